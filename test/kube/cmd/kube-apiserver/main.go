// Command kube-apiserver is the real Kubernetes API server (k8s.io/kubernetes v1.35.4), built
// from this module for dpa's end-to-end tests. `make kube-bins` sets its version with -ldflags.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
