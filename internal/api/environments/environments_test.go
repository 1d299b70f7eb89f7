package environments

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

// sdkCreate is what TestBetaEnvironmentNewWithOptionalParams sends.
const sdkCreate = `{"name":"python-data-analysis","config":{"type":"cloud","networking":{"type":"limited","allow_mcp_servers":true,"allow_package_managers":true,"allowed_hosts":["api.example.com"]},"packages":{"apt":["string"],"cargo":["string"],"gem":["string"],"go":["string"],"npm":["string"],"pip":["pandas","numpy"],"type":"packages"}},"description":"Python environment with data-analysis packages.","metadata":{"foo":"string"},"scope":"organization"}`

var createSeeds = []string{
	sdkCreate,
	`{"name":"a"}`,
	`{"name":"a","config":{"type":"self_hosted"}}`,
	`{"name":"a","config":{"type":"self_hosted","networking":{"type":"unrestricted"}}}`,
	`{"name":"a","config":{"type":"cloud","networking":{"type":"unrestricted","allowed_hosts":["x.com"]}}}`,
	`{"name":"a","config":{"type":"cloud","networking":{"type":"limited"},"packages":{"pip":["x"]}}}`,
	`{"name":"a","config":{"type":"cloud","networking":{"type":"limited","allowed_hosts":["*.example.com","10.0.0.1","::1","bad host"]}}}`,
	`{"name":"a","config":null,"description":null,"metadata":null,"scope":null}`,
	`{"name":null}`,
	`{"name":"a","config":{"type":"moon"}}`,
	`{"name":"a","config":[]}`,
	`{"name":"a","scope":"account"}`,
	`{"name":"a","metadata":{"k":1}}`,
	`{"name":"a","extra":1}`,
	`{"name":"a","config":{"type":"cloud","packages":{"pip":["-r requirements.txt"]}}}`,
	`{`,
	``,
	`[]`,
}

// invalidOnly fails unless err is a 400: decoders must never turn client
// input into a 500 or a panic.
func invalidOnly(t *testing.T, body string, err error) {
	t.Helper()
	if c := errdefs.ClassOf(err); c != errdefs.ClassInvalid {
		t.Fatalf("body %q: error class %v, want invalid: %v", body, c, err)
	}
	if strings.TrimSpace(err.Error()) == "" {
		t.Fatalf("body %q: empty error message", body)
	}
}

// roundTrip checks that what would be stored decodes back to the same JSON.
func roundTrip(t *testing.T, env wire.Environment) {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var back wire.Environment
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("stored form does not decode: %v\n%s", err, b)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed the environment:\n%s\n%s", b, b2)
	}
}

// checkInvariants holds for every environment the API can store.
func checkInvariants(t *testing.T, env wire.Environment) {
	t.Helper()
	if env.Name == "" || env.Metadata == nil || len(env.Metadata) > 16 {
		t.Fatalf("bad environment: %+v", env)
	}
	c := env.Config
	switch c.Type {
	case wire.EnvironmentConfigSelfHosted:
	case wire.EnvironmentConfigCloud:
		if c.Networking.Type != wire.NetworkingLimited && c.Networking.Type != wire.NetworkingUnrestricted {
			t.Fatalf("bad networking type %q", c.Networking.Type)
		}
		if err := checkConfig(c); err != nil {
			t.Fatalf("stored config breaks a cross-field rule: %v", err)
		}
	default:
		t.Fatalf("bad config type %q", c.Type)
	}
	roundTrip(t, env)
}

func FuzzParseCreate(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p wire.EnvironmentCreateParams
		if err := httpx.DecodeBytes(body, &p); err != nil {
			invalidOnly(t, string(body), err)
			return
		}
		env, err := parseCreate(p)
		if err != nil {
			invalidOnly(t, string(body), err)
			return
		}
		checkInvariants(t, env)
	})
}

func FuzzParseUpdate(f *testing.F) {
	seeds := []string{
		`{}`,
		`{"name":"b","description":null,"metadata":{"foo":null,"bar":"","baz":"x"}}`,
		`{"config":{"type":"self_hosted"}}`,
		`{"config":{"type":"cloud","networking":{"type":"unrestricted"}}}`,
		`{"config":{"type":"cloud","networking":{"type":"limited","allow_package_managers":false}}}`,
		`{"config":{"type":"cloud","packages":{"pip":[]}}}`,
		`{"scope":"organization","name":null,"config":null}`,
		`{"metadata":null}`,
		`{"metadata":{"":"x"}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	cloud, err := parseCreate(mustCreate(f, sdkCreate))
	if err != nil {
		f.Fatal(err)
	}
	selfHosted, err := parseCreate(mustCreate(f, `{"name":"sh","config":{"type":"self_hosted"}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, useCloud bool) {
		base := selfHosted
		if useCloud {
			base = cloud
		}
		var p wire.EnvironmentUpdateParams
		if err := httpx.DecodeBytes(body, &p); err != nil {
			invalidOnly(t, string(body), err)
			return
		}
		u, err := parseUpdate(p)
		if err != nil {
			invalidOnly(t, string(body), err)
			return
		}
		next, err := u.apply(base)
		if err != nil {
			invalidOnly(t, string(body), err)
			return
		}
		if next.Config.Type != base.Config.Type {
			t.Fatalf("config type changed from %q to %q", base.Config.Type, next.Config.Type)
		}
		checkInvariants(t, next)
	})
}

func mustCreate(t testing.TB, body string) wire.EnvironmentCreateParams {
	t.Helper()
	var p wire.EnvironmentCreateParams
	if err := httpx.DecodeBytes([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"api.example.com", true},
		{"localhost", true},
		{"*.example.com", true},
		{"EXAMPLE.com", true},
		{"xn--bcher-kva.de", true},
		{"10.1.2.3", true},
		{"2001:db8::1", true},
		{"", false},
		{"*", false},
		{"*.", false},
		{"a.*.com", false},
		{"https://api.example.com", false},
		{"api.example.com/path", false},
		{"api.example.com:443", false},
		{"user@example.com", false},
		{"-bad.com", false},
		{"bad-.com", false},
		{"a..com", false},
		{"example.com.", false},
		{"999.1.1.1", false},
		{"bücher.de", false},
		{"has space.com", false},
		{"fe80::1%eth0", false},
		{strings.Repeat("a", 64) + ".com", false},
		{strings.Repeat("a.", 127) + "com", false},
	} {
		err := checkHost("allowed_hosts[0]", tc.host)
		if (err == nil) != tc.ok {
			t.Errorf("checkHost(%q) = %v, want ok=%v", tc.host, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "allowed_hosts[0]: ") {
			t.Errorf("checkHost(%q) error does not name the field: %v", tc.host, err)
		}
	}
}
