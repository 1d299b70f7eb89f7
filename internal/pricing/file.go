package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Load builds the table: the built-in prices, then the prices file at path
// on top ("" for none). An entry of the file replaces the built-in price of
// the same id whole; an entry of null makes the model unpriced. Errors name
// the file and the field, e.g. `models["gpt-5"].input: ...`.
//
// The file is JSON:
//
//	{"models": {
//	  "gpt-5": {"input": "1.25", "output": "10", "cache_read": "0.125"},
//	  "claude-haiku-5-5": {"input": "0.10", "output": "0.50", ...,
//	    "long_prompt": {"threshold_tokens": 100000, "input": "0.50", "output": "2.50"}},
//	  "claude-opus-5-5": {"input": "4", "output": "20", ..., "fast": {"input": "8", "output": "40"}},
//	  "claude-opus-4-1": null
//	}}
//
// Rates are dollars per million tokens, as strings or JSON numbers written
// in plain decimal (at most 6 decimal places). input and output are
// required; cache_write_5m, cache_write_1h and cache_read are optional, and
// a request using a class of tokens whose rate is absent is unpriced.
func Load(path string) (*Table, error) {
	t := Builtin()
	if path == "" {
		return t, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prices file: %w", err)
	}
	entries, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("prices file %s: %w", path, err)
	}
	for id, p := range entries {
		t.prices[id] = p
	}
	t.fromFile, t.file = len(entries), path
	return t, nil
}

// Parse builds a table from the built-in prices and a prices file's
// content (see Load).
func Parse(data []byte) (*Table, error) {
	t := Builtin()
	entries, err := parseFile(data)
	if err != nil {
		return nil, err
	}
	for id, p := range entries {
		t.prices[id] = p
	}
	t.fromFile = len(entries)
	return t, nil
}

type fileRates struct {
	Input        json.RawMessage `json:"input"`
	Output       json.RawMessage `json:"output"`
	CacheWrite5m json.RawMessage `json:"cache_write_5m"`
	CacheWrite1h json.RawMessage `json:"cache_write_1h"`
	CacheRead    json.RawMessage `json:"cache_read"`
}

type fileLongPrompt struct {
	ThresholdTokens json.RawMessage `json:"threshold_tokens"`
	fileRates
}

type filePrice struct {
	fileRates
	LongPrompt json.RawMessage `json:"long_prompt"`
	Fast       json.RawMessage `json:"fast"`
}

func parseFile(data []byte) (map[string]*Price, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := expectDelim(dec, '{', "the file must be a JSON object"); err != nil {
		return nil, err
	}
	var models map[string]*Price
	for dec.More() {
		key, err := keyToken(dec)
		if err != nil {
			return nil, err
		}
		if key != "models" {
			return nil, fmt.Errorf("unknown field %q (the file has one field, \"models\")", key)
		}
		if models != nil {
			return nil, errors.New("models: given twice")
		}
		if models, err = parseModels(dec); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("invalid JSON: trailing data after the object")
	}
	if models == nil {
		return nil, errors.New("models: required (an object of model id to price)")
	}
	return models, nil
}

func parseModels(dec *json.Decoder) (map[string]*Price, error) {
	if err := expectDelim(dec, '{', "models: must be an object of model id to price"); err != nil {
		return nil, err
	}
	models := map[string]*Price{}
	for dec.More() {
		id, err := keyToken(dec)
		if err != nil {
			return nil, fmt.Errorf("models: %w", err)
		}
		path := fmt.Sprintf("models[%q]", id)
		if strings.TrimSpace(id) != id || id == "" || strings.ContainsAny(id, " \t\r\n") {
			return nil, fmt.Errorf("%s: a model id must be non-empty and without spaces", path)
		}
		if _, dup := models[id]; dup {
			return nil, fmt.Errorf("%s: given twice", path)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", path, err)
		}
		p, err := parsePrice(path, raw)
		if err != nil {
			return nil, err
		}
		models[id] = p
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("models: invalid JSON: %w", err)
	}
	return models, nil
}

// parsePrice reads one model's entry; null is an explicitly unpriced model.
func parsePrice(path string, raw json.RawMessage) (*Price, error) {
	if isNull(raw) {
		return nil, nil
	}
	var fp filePrice
	if err := strictDecode(raw, &fp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rs, err := fp.fileRates.parse(path)
	if err != nil {
		return nil, err
	}
	p := &Price{Rates: rs}
	if len(fp.LongPrompt) > 0 && !isNull(fp.LongPrompt) {
		lpPath := path + ".long_prompt"
		var flp fileLongPrompt
		if err := strictDecode(fp.LongPrompt, &flp); err != nil {
			return nil, fmt.Errorf("%s: %w", lpPath, err)
		}
		n, err := strconv.ParseInt(string(flp.ThresholdTokens), 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s.threshold_tokens: required, a positive whole number of prompt tokens", lpPath)
		}
		lrs, err := flp.fileRates.parse(lpPath)
		if err != nil {
			return nil, err
		}
		p.LongPrompt = &LongPrompt{ThresholdTokens: n, Rates: lrs}
	}
	if len(fp.Fast) > 0 && !isNull(fp.Fast) {
		fPath := path + ".fast"
		var ff fileRates
		if err := strictDecode(fp.Fast, &ff); err != nil {
			return nil, fmt.Errorf("%s: %w", fPath, err)
		}
		frs, err := ff.parse(fPath)
		if err != nil {
			return nil, err
		}
		p.Fast = &frs
	}
	return p, nil
}

func (f fileRates) parse(path string) (Rates, error) {
	var rs Rates
	for _, fld := range []struct {
		name     string
		raw      json.RawMessage
		dst      *Rate
		required bool
	}{
		{"input", f.Input, &rs.Input, true},
		{"output", f.Output, &rs.Output, true},
		{"cache_write_5m", f.CacheWrite5m, &rs.CacheWrite5m, false},
		{"cache_write_1h", f.CacheWrite1h, &rs.CacheWrite1h, false},
		{"cache_read", f.CacheRead, &rs.CacheRead, false},
	} {
		if len(fld.raw) == 0 || isNull(fld.raw) {
			if fld.required {
				return Rates{}, fmt.Errorf("%s.%s: required (dollars per million tokens)", path, fld.name)
			}
			continue
		}
		r, err := parseRateJSON(fld.raw)
		if err != nil {
			return Rates{}, fmt.Errorf("%s.%s: %w", path, fld.name, err)
		}
		*fld.dst = r
	}
	return rs, nil
}

// parseRateJSON takes a string ("0.125") or a plain decimal number literal
// (0.125), reading its text, never a float.
func parseRateJSON(raw json.RawMessage) (Rate, error) {
	s := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return Rate{}, err
		}
	} else if s == "true" || s == "false" || strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return Rate{}, fmt.Errorf("expected a decimal number of dollars per million tokens, got %s", s)
	}
	return ParseRate(s)
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return fmt.Errorf("expected an object, got %s", ute.Value)
		}
		return err
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func expectDelim(dec *json.Decoder, d json.Delim, msg string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if tok != d {
		return errors.New(msg)
	}
	return nil
}

func keyToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("invalid JSON: %w", err)
	}
	k, _ := tok.(string)
	return k, nil
}
