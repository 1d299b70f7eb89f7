package workflow

import (
	"reflect"
	"sort"
	"strings"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
)

// tickName is the global the instrumented program calls to count a step.
// The interpreter has no instruction counter of its own, so the program's
// source is rewritten to call it at the top of every loop iteration and
// every function body; the Go side counts and interrupts past the budget.
// A program that shadows the name only escapes the step budget, not the
// run's time limit.
const tickName = "__hangar_tick"

// edit inserts text before the byte at off of the source.
type edit struct {
	off   int
	text  string
	close bool // a closing insert: at one offset, closes go first, inner first
	seq   int
}

// instrument parses src and returns it with step ticks inserted. A syntax
// error is returned as the parser reports it.
func instrument(src string) (string, error) {
	prog, err := parser.ParseFile(nil, "workflow.js", src, 0)
	if err != nil {
		return "", err
	}
	var edits []edit
	add := func(idx file.Idx, text string, closing bool) {
		edits = append(edits, edit{off: int(idx) - 1, text: text, close: closing, seq: len(edits)})
	}
	tick := tickName + "();"
	// tickBlock counts a step at the start of a block, after its
	// directives ("use strict" must stay first to count).
	tickBlock := func(b *ast.BlockStatement) {
		at := b.LeftBrace + 1
		for _, st := range b.List {
			es, ok := st.(*ast.ExpressionStatement)
			if !ok {
				break
			}
			if _, ok := es.Expression.(*ast.StringLiteral); !ok {
				break
			}
			at = statementEnd(src, es)
		}
		add(at, tick, false)
	}
	// tickBody makes a loop body count one step per iteration.
	tickBody := func(body ast.Statement) {
		if b, ok := body.(*ast.BlockStatement); ok {
			tickBlock(b)
			return
		}
		start, parens, ok := statementStart(src, body)
		if !ok {
			return // the time limit still bounds it
		}
		end := int(body.Idx1()) - 1
		for ; parens > 0 && end < len(src); end++ {
			if src[end] == ')' {
				parens--
			} else if !isSpace(src[end]) {
				break
			}
		}
		add(file.Idx(start+1), "{"+tick, false)
		add(file.Idx(end+1), "}", true)
	}
	// tickExpr counts one step each time expression e is evaluated.
	tickExpr := func(e ast.Expression) {
		add(e.Idx0(), "("+tickName+"(),", false)
		add(e.Idx1(), ")", true)
	}
	walk(reflect.ValueOf(prog), func(n ast.Node) {
		switch n := n.(type) {
		case *ast.ForStatement:
			tickBody(n.Body)
		case *ast.ForInStatement:
			tickBody(n.Body)
		case *ast.ForOfStatement:
			tickBody(n.Body)
		case *ast.WhileStatement:
			tickBody(n.Body)
		case *ast.DoWhileStatement:
			// Wrapping a bare do-while body would put a block before the
			// body's own semicolon; count on the test instead.
			if b, ok := n.Body.(*ast.BlockStatement); ok {
				tickBlock(b)
			} else if n.Test != nil {
				tickExpr(n.Test)
			}
		case *ast.FunctionLiteral:
			if n.Body != nil {
				tickBlock(n.Body)
			}
		case *ast.ArrowFunctionLiteral:
			switch b := n.Body.(type) {
			case *ast.BlockStatement:
				tickBlock(b)
			case *ast.ExpressionBody:
				tickExpr(b.Expression)
			}
		}
	})
	sort.SliceStable(edits, func(i, j int) bool {
		a, b := edits[i], edits[j]
		if a.off != b.off {
			return a.off < b.off
		}
		if a.close != b.close {
			return a.close
		}
		if a.close {
			return a.seq > b.seq
		}
		return a.seq < b.seq
	})
	var out strings.Builder
	out.Grow(len(src) + len(edits)*len(tick))
	last := 0
	for _, e := range edits {
		if e.off < last || e.off > len(src) {
			continue
		}
		out.WriteString(src[last:e.off])
		out.WriteString(e.text)
		last = e.off
	}
	out.WriteString(src[last:])
	return out.String(), nil
}

// statementStart is the offset where statement st begins in src, and how
// many parentheses open it. The parser does not record where an if
// statement begins, nor the parentheses around an expression statement's
// expression, so both are found in the source; ok is false when that
// fails.
func statementStart(src string, st ast.Statement) (start, parens int, ok bool) {
	start = int(st.Idx0()) - 1
	if ifs, isIf := st.(*ast.IfStatement); isIf {
		// Back from the test over "(" and spaces, to the keyword.
		i := int(ifs.Test.Idx0()) - 2
		for i >= 0 && (src[i] == '(' || isSpace(src[i])) {
			i--
		}
		if i < 1 || src[i-1:i+1] != "if" {
			return 0, 0, false
		}
		return i - 1, 0, true
	}
	if start < 0 || start >= len(src) {
		return 0, 0, false
	}
	for i := start - 1; i >= 0; i-- {
		if src[i] == '(' {
			parens++
			start = i
		} else if !isSpace(src[i]) {
			break
		}
	}
	return start, parens, true
}

// statementEnd is the offset just past statement st and its semicolon.
func statementEnd(src string, st ast.Statement) file.Idx {
	end := int(st.Idx1()) - 1
	for i := end; i < len(src); i++ {
		if src[i] == ';' {
			return file.Idx(i + 2)
		}
		if !isSpace(src[i]) {
			break
		}
	}
	return file.Idx(end + 1)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

var (
	nodeType = reflect.TypeOf((*ast.Node)(nil)).Elem()
	fileType = reflect.TypeOf((*file.File)(nil))
)

// walk calls visit on every AST node reachable from v, parents first. The
// AST package has no walker of its own; its nodes are plain structs, slices
// and interfaces, so reflection reaches them all.
func walk(v reflect.Value, visit func(ast.Node)) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), visit)
		}
	case reflect.Pointer:
		if v.IsNil() || v.Type() == fileType {
			return
		}
		if v.Type().Implements(nodeType) {
			visit(v.Interface().(ast.Node))
		}
		walk(v.Elem(), visit)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i), visit)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), visit)
		}
	}
}
