package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// FindRoot returns the repository root, the folder of the go.mod of module
// auth, looking in dir and its parents.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module auth\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("history: no go.mod of module auth in this folder or its parents")
		}
		dir = parent
	}
}

// BuildAuthServer builds the root module's cmd/auth-server into dir and
// returns the binary's path. It is built without the race detector: the
// harness is what a race-enabled test covers, the servers are what it
// tests.
func BuildAuthServer(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "auth-server")
	return out, goBuild(ctx, root, "./cmd/auth-server", out)
}

// BuildLauncher builds the MongoDB test server (internal/testmongo, a
// module of its own) into dir and returns the binary's path. Go's build
// cache makes it quick after the first build, which takes minutes.
func BuildLauncher(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "testmongo")
	return out, goBuild(ctx, filepath.Join(root, "internal", "testmongo"), ".", out)
}

func goBuild(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", out, pkg)
	cmd.Dir = dir
	// The launcher is a module of its own; a workspace must not pull it in.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, buf.String())
	}
	return nil
}
