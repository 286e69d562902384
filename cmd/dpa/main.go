// Command dpa is the Data Plane Aggregator: a Kubernetes-style API server for
// DataPlaneService objects and a data plane in front of Grafana backend plugins.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/dataplane-aggregator/dpa/pkg/server"
	"github.com/dataplane-aggregator/dpa/pkg/version"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "dpa",
		Short:         "Data Plane Aggregator: a Kubernetes-style data plane for Grafana backend plugins",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newServeCommand(), &cobra.Command{
		Use:   "version",
		Short: "Print the dpa version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.Version)
		},
	})
	return root
}

func newServeCommand() *cobra.Command {
	opts := server.NewOptions()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server and data plane",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Config()
			if err != nil {
				return err
			}
			srv, err := cfg.Complete().New()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return srv.Run(ctx)
		},
	}
	var fss cliflag.NamedFlagSets
	opts.AddFlags(&fss)
	for _, fs := range fss.FlagSets {
		cmd.Flags().AddFlagSet(fs)
	}
	cliflag.SetUsageAndHelpFunc(cmd, fss, 0)
	return cmd
}
