package routes

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	segs, err := ParsePath("/items/{id}/files/{path...}")
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{{Literal: "items"}, {Param: "id"}, {Literal: "files"}, {Param: "path", CatchAll: true}}
	if len(segs) != len(want) {
		t.Fatalf("got %v", segs)
	}
	for i := range want {
		if segs[i] != want[i] {
			t.Errorf("segment %d = %+v, want %+v", i, segs[i], want[i])
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	for path, want := range map[string]string{
		"items":       "must start with /",
		"/a/":         "must not end with /",
		"/a//b":       "empty segments",
		"/a/../b":     ". or ..",
		"/a/{x}/{x}":  "used twice",
		"/a/{p...}/b": "must be the last segment",
		"/a/x{id}":    "fill the whole segment",
		"/a/{1x}":     "identifier name",
		"/a?b":        "query or fragment",
	} {
		if _, err := ParsePath(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePath(%q) = %v, want an error with %q", path, err, want)
		}
	}
}
