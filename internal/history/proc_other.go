//go:build !linux

package history

import "os/exec"

// setDeathSignal does nothing where the kernel cannot tie a child's life
// to its parent's; Cluster.Close still kills every child.
func setDeathSignal(*exec.Cmd) {}
