package pluginhost

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// TestServices: the host learns from each running process which plugin services it serves.
func TestServices(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGet(t, h, dsID, 20*time.Second)
	waitGet(t, h, appID, 20*time.Second)

	all := []string{backendplugin.ServiceAdmissionControl, backendplugin.ServiceData, backendplugin.ServiceDiagnostics, backendplugin.ServiceResource, backendplugin.ServiceResourceConversion, backendplugin.ServiceStream}
	if got := h.State(dsID).Services; !slices.Equal(got, all) {
		t.Errorf("datasource services = %v, want %v", got, all)
	}
	// The example app implements health, resources and streams only.
	app := h.State(appID).Services
	for _, want := range []string{backendplugin.ServiceDiagnostics, backendplugin.ServiceResource, backendplugin.ServiceStream} {
		if !slices.Contains(app, want) {
			t.Errorf("app services %v lack %s", app, want)
		}
	}
	for _, absent := range []string{backendplugin.ServiceAdmissionControl, backendplugin.ServiceResourceConversion} {
		if slices.Contains(app, absent) {
			t.Errorf("app services %v include %s, which the example app does not implement", app, absent)
		}
	}
}
