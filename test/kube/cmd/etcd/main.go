// Command etcd is the etcd 3.6 server (go.etcd.io/etcd/server/v3, the version dpa's go.mod
// uses), built from this module for dpa's end-to-end tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
