package threadcpu

import (
	"syscall"
	"time"
	"unsafe"
)

// Time returns the CPU time the calling OS thread has used
// (CLOCK_THREAD_CPUTIME_ID); 0 if the clock cannot be read.
func Time() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
