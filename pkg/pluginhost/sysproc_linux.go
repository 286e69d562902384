//go:build linux

package pluginhost

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the plugin when dpa dies (Pdeathsig),
// so plugins never outlive the host. Caveat: Pdeathsig fires when the OS
// thread that forked the child exits; Go only retires threads of goroutines
// that exit while locked with runtime.LockOSThread, which the host never
// does.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
