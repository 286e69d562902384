package routes

import (
	"strings"
	"testing"
)

// FuzzParsePath: any string parses or is refused without a panic, and what parses is a path
// of the grammar: joining its segments back gives the input.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/", "/a/{b}/c", "/x/{rest...}", "/a//b", "/{a}/{a}", "/a/{b...}/c", "/ü/{_x9}", "a", "/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, err := ParsePath(p)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, s := range segs {
			b.WriteByte('/')
			switch {
			case s.CatchAll:
				b.WriteString("{" + s.Param + "...}")
			case s.Param != "":
				b.WriteString("{" + s.Param + "}")
			default:
				if s.Literal == "" || s.Literal == "." || s.Literal == ".." || strings.ContainsAny(s.Literal, "/{}?#") {
					t.Fatalf("%q: bad literal %q", p, s.Literal)
				}
				b.WriteString(s.Literal)
			}
		}
		if got := b.String(); got != p && !(p == "/" && got == "") {
			t.Fatalf("%q parsed into %+v, which reads %q", p, segs, got)
		}
	})
}
