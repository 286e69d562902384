// Command testplugin serves the dataplane tests' plugin (internal/testplugin) as a real plugin
// process over go-plugin, for the tests that need one (realplugin_test.go).
package main

import (
	"fmt"
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/dataplane-aggregator/dpa/pkg/dataplane/internal/testplugin"
)

func main() {
	if err := backend.Serve(testplugin.ServeOpts(os.Getenv("TESTPLUGIN_MARKER_DIR"))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
