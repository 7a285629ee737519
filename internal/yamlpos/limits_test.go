package yamlpos

import (
	"errors"
	"strings"
	"testing"
)

// billionLaughs is the classic alias bomb: nine levels of ten aliases each stand for 10^9
// strings in about 600 bytes.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 lol\n")
	for i := 1; i <= 9; i++ {
		refs := strings.Repeat(", *a"+string(rune('0'+i-1)), 10)[2:]
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + refs + "]\n")
	}
	return b.String()
}

func TestCheck(t *testing.T) {
	deep := strings.Repeat("[", 150) + strings.Repeat("]", 150)
	tests := []struct {
		name string
		yaml string
		lim  Limits
		line int    // 0: no problem expected
		msg  string // part of the message
	}{
		{name: "plain", yaml: "a: {b: [1, 2, 3]}\n", lim: DefaultLimits},
		{name: "aliases within the limit", yaml: "base: &b {x: 1}\none: *b\ntwo: *b\n", lim: DefaultLimits},
		{name: "self-referencing alias", yaml: "data: &a {b: *a}\n", lim: DefaultLimits, line: 1, msg: "alias *a refers to a map or list that contains it"},
		{name: "cycle through a list", yaml: "x: &l\n  - 1\n  - *l\n", lim: DefaultLimits, line: 3, msg: "contains it"},
		{name: "billion laughs", yaml: billionLaughs(), lim: DefaultLimits, msg: "with its aliases expanded, this holds more than 100000 values"},
		{name: "too many values without aliases", yaml: "[1, 2, 3, 4, 5, 6]\n", lim: Limits{Values: 5}, line: 1, msg: "holds more than 5 values; split it"},
		{name: "deep flow list", yaml: deep + "\n", lim: DefaultLimits, line: 1, msg: "nest deeper than 100 levels"},
		{name: "depth through an alias", yaml: "a: &d [[[[1]]]]\nb: [[[*d]]]\n", lim: Limits{Depth: 6}, line: 2, msg: "alias *d makes maps and lists nest deeper than 6"},
		{name: "depth exactly at the limit", yaml: "[[1]]\n", lim: Limits{Depth: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml), tt.lim)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || errors.Is(err, ErrLimit) == strings.Contains(tt.msg, "contains it") {
				t.Fatalf("Parse: got %v, want an *Error wrapping ErrLimit unless it is an alias cycle", err)
			}
			if !strings.Contains(e.Msg, tt.msg) || e.File != "f.yaml" || (tt.line != 0 && e.Line != tt.line) {
				t.Errorf("got %q at line %d, want %q at line %d", e.Error(), e.Line, tt.msg, tt.line)
			}
		})
	}
}

// TestDecodeStrictBounded: the strict decoder, which walks every node, refuses an alias
// cycle rather than recursing until the stack runs out.
func TestDecodeStrictBounded(t *testing.T) {
	var out map[string]any
	err := DecodeStrict("p.yaml", []byte("a: &a {b: *a}\n"), &out)
	if len(Errors(err)) != 1 || !strings.Contains(err.Error(), "contains it") {
		t.Fatalf("DecodeStrict: got %v, want the alias cycle refused", err)
	}
}
