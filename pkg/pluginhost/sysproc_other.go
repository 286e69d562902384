//go:build !linux

package pluginhost

import (
	"os"
	"os/exec"
)

// setProcAttr: Pdeathsig is Linux-only; elsewhere plugins rely on
// go-plugin's graceful shutdown from Stop.
func setProcAttr(*exec.Cmd) {}

func killPID(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
