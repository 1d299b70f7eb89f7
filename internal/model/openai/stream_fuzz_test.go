package openai

import (
	"bytes"
	"testing"

	"github.com/hangarhq/hangar/internal/model"
)

// FuzzDecodeStream feeds arbitrary bytes to the chunk decoder: it must never
// panic, and whatever it emits must obey the event grammar, so that the
// accumulator accepts it.
func FuzzDecodeStream(f *testing.F) {
	seeds := []string{
		"data: [DONE]\n\n",
		`data: {"id":"a","model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\ndata: [DONE]\n\n",
		`data: {"choices":[{"index":0,"delta":{"reasoning_content":"r"}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"content":"t"}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"reasoning":"r2"}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n",
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"a","arguments":"{\"x\""}},{"index":1,"id":"c2","function":{"name":"b"}}]}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}},{"index":0,"function":{"arguments":":1}"}}]}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n" +
			`data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}` + "\n\ndata: [DONE]\n\n",
		`data: {"choices":[{"delta":{"tool_calls":[{"function":{"name":"n","arguments":"{"}}]}}]}` + "\r\n\r\n" +
			`data: {"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}` + "\r\n\r\n",
		`data: {"error":{"message":"boom","type":"server_error","code":500}}` + "\n\n",
		`data: {"error":"plain"}` + "\n\n",
		": comment\nevent: x\nid: 1\ndata: {\"choices\":\ndata: []}\n\n",
		"data: {not json}\n\n",
		"data:\n\n\n\ndata: [DONE]",
		"\r\r\n\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var acc model.Accumulator
		open := map[int]bool{}
		started, stopped := false, false
		err := decodeStream(bytes.NewReader(data), func(ev model.Event) bool {
			if stopped {
				t.Fatalf("event %v after message_stop", ev.Type)
			}
			switch ev.Type {
			case model.EventMessageStart:
				if started {
					t.Fatal("two message_start events")
				}
				started = true
			case model.EventBlockStart:
				open[ev.Index] = true
			case model.EventBlockDelta:
				if !open[ev.Index] {
					t.Fatalf("delta for block %d, which is not open", ev.Index)
				}
			case model.EventBlockStop:
				if !open[ev.Index] {
					t.Fatalf("stop for block %d, which is not open", ev.Index)
				}
				delete(open, ev.Index)
			case model.EventMessageStop:
				stopped = true
				if len(open) != 0 {
					t.Fatalf("message_stop with open blocks %v", open)
				}
			default:
				if !started {
					t.Fatalf("%v before message_start", ev.Type)
				}
			}
			if err := acc.Add(ev); err != nil {
				t.Fatalf("accumulator rejected %+v: %v", ev, err)
			}
			return true
		})
		if err == nil && !stopped {
			t.Fatal("decodeStream succeeded without message_stop")
		}
		if stopped {
			_ = acc.Response()
		}
	})
}
