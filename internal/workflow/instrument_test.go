package workflow

import (
	"github.com/dop251/goja"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// Instrumenting a program keeps what it computes, whatever its syntax.
func TestInstrumentKeepsMeaning(t *testing.T) {
	for _, tc := range []struct {
		program, want string
		// asWritten: the rewriting cannot place its ticks, so the program
		// runs as written, bounded by its time limit only.
		asWritten bool
	}{
		{"let a = 1\nwhile (a < 3) a++\nreturn a", `3`, false},
		{"let n = 0; outer: for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) { if (j == 1) continue outer; n++ } return n", `3`, false},
		{"const o = {a: 1, b: 2}; let k = ''; for (const x in o) if (x) k += x; return k", `"ab"`, false},
		{"let s = 0; for (const v of [1, 2, 3]) s += v; return s", `6`, false},
		{"let i = 0; do { i += 2 } while (i < 5); let j = 0; do j++; while (j < 4); return [i, j]", `[6,4]`, false},
		{"const t = `{ not a block ${1 + 1} }`; const r = /[{}]+/g; return [t, '{}'.replace(r, 'x')] // { }", `["{ not a block 2 }","x"]`, false},
		{"class K { #p = 2; get v() { return this.#p } static s() { return 3 } m() { return [1, 2].map(x => x * this.v) } } return [new K().m(), K.s(), new K().v]", `[[2,4],3,2]`, false},
		{"const f = (a = () => 1) => a(); const g = ({x}) => ({x}); return [f(), g({x: 5})]", `[1,{"x":5}]`, false},
		{"function* gen() { let i = 0; while (i < 3) yield i++ } return [...gen()]", `[0,1,2]`, false},
		{"const o = { m() { return 'm' }, get g() { return 'g' }, ['c' + 1]: function () { return 'c' } }; return [o.m(), o.g, o.c1()]", `["m","g","c"]`, false},
		{"if (true) for (;;) break; let x = 0; while (x < 2) { x++ } return x", `2`, false},
		{"return (function () { 'use strict'; return typeof this })()", `"undefined"`, false},
		{"'use strict'; return (function () { return typeof this })()", `"undefined"`, false},
		{"let i = 0; while (i < 3) (i++); while (i < 6) ((i += 1)); for (; i < 9;) if (i) i++; else break; return i", `9`, false},
		{"let n = 0; for (const v of [1, 2]) if (v > 1) n += v; else n -= 1; while (n < 5) /* c */ (n++); return n", `5`, false},
		{"var hoisted = h(); function h() { return 'h' } return hoisted", `"h"`, false},
		{"let x = 0\n;[1, 2].forEach(v => x += v)\nreturn x", `3`, false},
		{"let i = 0; while (i < 3) (((i)))++; return i", `3`, true},
	} {
		t.Run(tc.program[:min(len(tc.program), 30)], func(t *testing.T) {
			// The instrumented copy itself compiles: no fallback to the
			// program as written.
			src, err := instrument("(function(){" + tc.program + "\n})()")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := goja.Compile("t.js", src, false); (err != nil) != tc.asWritten {
				t.Fatalf("instrumented copy: %v\n%s", err, src)
			}
			res, s := execute(t, newConfig(&fakeRunner{}, &recSink{}), StartRequest{Program: tc.program})
			if res.Type != wire.WorkflowRunCompleted || string(s.Output) != tc.want {
				src, _ := instrument("(function(){" + tc.program + "\n})()")
				t.Errorf("result %+v, output %s, want %s (%s)\ninstrumented: %s", res, s.Output, tc.want, s.Failure, src)
			}
		})
	}
}

// Errors the agent reads point at its own program, without the step
// counter the server put in it.
func TestErrorsHideInstrumentation(t *testing.T) {
	res, s := execute(t, newConfig(&fakeRunner{}, &recSink{}), StartRequest{Program: "const f = () => { throw new Error('x') }\nf()"})
	wantError(t, res, wire.WorkflowRunProgramError)
	if strings.Contains(s.Failure, tickName) || !strings.Contains(s.Failure, "x") {
		t.Errorf("failure = %q", s.Failure)
	}
	_, err := NewRun(newConfig(&fakeRunner{}, &recSink{}), StartRequest{Program: "let a = 1\nlet b = )\nreturn a"})
	if e, ok := AsError(err); !ok || !strings.Contains(e.Detail, "Line 2") {
		t.Errorf("syntax error = %v, want it to point at line 2", err)
	}
}
