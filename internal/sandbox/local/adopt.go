package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// Adopt implements sandbox.Adopter. The workspace and outputs are bound
// into the sandbox by descriptor, so renaming their host directories to the
// session's paths moves them without the sandbox noticing: its /workspace
// is the same inode under its new name. rename(2) replaces only an absent
// or empty directory, so a session's existing files are never overwritten.
func (b *Backend) Adopt(ctx context.Context, sb sandbox.Sandbox, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	s, ok := sb.(*localSandbox)
	if !ok || s.b != b {
		return nil, errors.New("adopt: not a sandbox of this backend")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := sandbox.CanAdopt(s.spec, spec); err != nil {
		return nil, fmt.Errorf("adopt: %w", err)
	}
	if s.stopped {
		return nil, sandbox.ErrClosed
	}
	select {
	case <-s.exited:
		return nil, sandbox.ErrClosed
	default:
	}
	oldWS, oldOut := s.spec.WorkspaceDir, s.outputDir(s.spec)
	newOut := s.outputDir(spec)
	if err := b.moveDir(oldWS, spec.WorkspaceDir); err != nil {
		return nil, fmt.Errorf("workspace_dir: %w", err)
	}
	if err := b.moveDir(oldOut, newOut); err != nil {
		// Back where it was, so the sandbox is as the caller gave it.
		_ = syscall.Rename(spec.WorkspaceDir, oldWS)
		return nil, fmt.Errorf("output_dir: %w", err)
	}
	if err := b.adoptEgress(s.spec.EgressDir, spec.EgressDir); err != nil {
		_ = syscall.Rename(newOut, oldOut)
		_ = syscall.Rename(spec.WorkspaceDir, oldWS)
		return nil, fmt.Errorf("egress_dir: %w", err)
	}
	// Only what adoption changes: Exec reads the rest without the lock.
	// Pooled, it started with the pool's low CPU weight; a session's
	// sandbox has the normal one.
	s.group.setWeight(false)
	s.spec.SessionID = spec.SessionID
	s.spec.WorkspaceDir = spec.WorkspaceDir
	s.spec.OutputDir = spec.OutputDir
	s.spec.EgressDir = spec.EgressDir
	return s, nil
}

// adoptEgress gives a pooled sandbox its session's egress: the pool's
// (empty) egress directory is what the sandbox has mounted, so the
// session's socket and CA bundle are moved into it (a moved Unix socket
// keeps serving its listener), and it then takes the session directory's
// place, so both sides name one directory.
func (b *Backend) adoptEgress(poolDir, sessionDir string) error {
	if poolDir == "" || poolDir == sessionDir {
		return nil
	}
	ents, err := os.ReadDir(sessionDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := syscall.Rename(filepath.Join(sessionDir, e.Name()), filepath.Join(poolDir, e.Name())); err != nil {
			return &os.LinkError{Op: "rename", Old: filepath.Join(sessionDir, e.Name()), New: filepath.Join(poolDir, e.Name()), Err: err}
		}
	}
	return b.moveDir(poolDir, sessionDir)
}

// outputDir is the host directory behind the sandbox's outputs for spec.
func (s *localSandbox) outputDir(spec sandbox.Spec) string {
	if spec.OutputDir != "" {
		return spec.OutputDir
	}
	return filepath.Join(s.stateDir, "outputs")
}

func (b *Backend) moveDir(from, to string) error {
	if from == to {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o711); err != nil {
		return err
	}
	// rename(2) itself, not os.Rename, which refuses any existing directory:
	// the kernel replaces an empty one atomically and refuses one with files.
	err := syscall.Rename(from, to)
	if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("%s already has files", to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
