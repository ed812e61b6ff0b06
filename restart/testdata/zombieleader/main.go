//go:build linux

// Command zombieleader holds, for as long as it runs, the state a Go
// service passes through while it exits: its main thread has exited (so
// /proc/PID/stat says zombie) while other threads live on, and the child it
// started is still its child. It starts `sleep 600`, prints the child's PID,
// and then ends only its main thread. restart's tests use it to check that
// the stable-PID supervisor still finds that child.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// init runs on the main thread; locking keeps main there, so that the exit
// below ends the thread group's leader.
func init() { runtime.LockOSThread() }

func main() {
	child := exec.Command("sleep", "600")
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "zombieleader:", err)
		os.Exit(1)
	}
	fmt.Println(child.Process.Pid)
	go func() {
		for {
			time.Sleep(time.Hour) // keeps the process alive on other threads
		}
	}()
	// exit(2), not exit_group(2): only this thread ends.
	syscall.RawSyscall(syscall.SYS_EXIT, 0, 0, 0)
}
