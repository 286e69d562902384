// Command gpx_dataplane_aggregator_app is the backend of the Data Plane Aggregator Grafana app
// plugin: it forwards the frontend's /apis/... calls to the aggregator with the configured
// bearer token (which never reaches the browser), acting as the signed-in Grafana user (dpa
// impersonates the user with its org role), and implements the health check.
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/app"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
)

// PluginID must match src/plugin.json.
const PluginID = "dataplane-aggregator-app"

func main() {
	if err := app.Manage(PluginID, NewApp, app.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("plugin exited", "error", err.Error())
		os.Exit(1)
	}
}
