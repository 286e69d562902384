// Package version holds the product version, set at build time with
// -ldflags "-X github.com/dataplane-aggregator/dpa/pkg/version.Version=v1.2.3".
package version

// Version is dpa's semantic version. Builds without ldflags report the development version.
var Version = "v0.1.0-dev"

// GitCommit is the commit dpa was built from, when known.
var GitCommit = ""
