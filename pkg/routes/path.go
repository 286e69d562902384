package routes

import (
	"fmt"
	"regexp"
	"strings"
)

// The route grammar, used by validation and by the data plane's matcher alike: a path such as
// /items/{id}/files/{path...}.

var paramPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Segment is one "/"-separated segment of a route path.
type Segment struct {
	// Literal is the segment text when Param is empty.
	Literal string
	// Param is the placeholder name of a {param} or {param...} segment.
	Param string
	// CatchAll marks a trailing {param...} that matches the rest of the path.
	CatchAll bool
}

// ParsePath parses a route path such as /items/{id}/files/{path...}. The path starts with
// "/", has no empty, "." or ".." segments, placeholders are identifiers used once, and a
// catch-all may only be the last segment.
func ParsePath(p string) ([]Segment, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("must start with /")
	}
	if p == "/" {
		return nil, nil
	}
	if strings.ContainsAny(p, "?#") {
		return nil, fmt.Errorf("must not contain a query or fragment")
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	segs := make([]Segment, 0, len(parts))
	names := map[string]bool{}
	for i, part := range parts {
		switch {
		case part == "" && i == len(parts)-1:
			return nil, fmt.Errorf("must not end with /")
		case part == "":
			return nil, fmt.Errorf("must not contain empty segments (//)")
		case part == "." || part == "..":
			return nil, fmt.Errorf("must not contain . or .. segments")
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			catchAll := strings.HasSuffix(name, "...")
			name = strings.TrimSuffix(name, "...")
			if !paramPattern.MatchString(name) {
				return nil, fmt.Errorf("placeholder %q must be {name} or {name...} with an identifier name", part)
			}
			if names[name] {
				return nil, fmt.Errorf("placeholder {%s} is used twice", name)
			}
			if catchAll && i != len(parts)-1 {
				return nil, fmt.Errorf("catch-all {%s...} must be the last segment", name)
			}
			names[name] = true
			segs = append(segs, Segment{Param: name, CatchAll: catchAll})
		case strings.ContainsAny(part, "{}"):
			return nil, fmt.Errorf("segment %q: a placeholder must fill the whole segment", part)
		default:
			segs = append(segs, Segment{Literal: part})
		}
	}
	return segs, nil
}
