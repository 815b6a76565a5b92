//go:build !unix

package bench

import (
	"os"
	"os/exec"
)

func ownGroup(*exec.Cmd) {}

func terminate(cmd *exec.Cmd) error { return cmd.Process.Signal(os.Interrupt) }
func kill(cmd *exec.Cmd) error      { return cmd.Process.Kill() }
