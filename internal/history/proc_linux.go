package history

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the child if the harness dies without
// cleaning up (a panic, a SIGKILL), so that no server outlives a run.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
