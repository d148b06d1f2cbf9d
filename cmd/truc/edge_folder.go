package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"truc.vn/truc/adapters/folder"
)

// folderSection is the edge config's folder: section: a drop folder for a
// DMS that exchanges files (see package folder). Without root there is no
// folder.
//
//	folder:
//	  root: /srv/dms/truc          # outbox/, sent/, failed/, inbox/ under it
//	  organ_ids: [000.00.00.H26]   # the agencies the DMS acts for
//	  settle: 2s                   # unchanged this long before a file is taken; 0: at once
//	  poll: 1s                     # how often outbox/ is scanned
//	  take_on_write: true          # take incoming documents (status 01) once written
type folderSection struct {
	// Root is the folder, relative to the config file or absolute.
	Root string `yaml:"root"`
	// OrganIDs are the agencies the DMS behind the folder acts for.
	OrganIDs []string `yaml:"organ_ids"`
	// Client scopes the folder's idempotency keys (default "folder").
	Client string `yaml:"client"`
	// Settle is how long a file must stay unchanged before it is taken
	// (default 2s); 0 takes it at once (a DMS that always renames).
	Settle *time.Duration `yaml:"settle"`
	// Poll is how often outbox/ is scanned (default 1s).
	Poll time.Duration `yaml:"poll"`
	// TakeOnWrite takes incoming documents once written to inbox/, which
	// sends status 01 (default true).
	TakeOnWrite *bool `yaml:"take_on_write"`
	// Workers is how many files are submitted at once (default 8).
	Workers int `yaml:"workers"`
}

func (s *folderSection) resolve(path string) { s.Root = resolvePath(path, s.Root) }

// config is the folder.Config the section describes (without the edge's
// package cap and logger).
func (s *folderSection) config() folder.Config {
	c := folder.Config{
		Root:     s.Root,
		OrganIDs: s.OrganIDs,
		Client:   s.Client,
		Poll:     s.Poll,
		Workers:  s.Workers,
		NoTake:   s.TakeOnWrite != nil && !*s.TakeOnWrite,
	}
	if s.Settle != nil {
		c.Settle = *s.Settle
		if c.Settle == 0 {
			c.Settle = folder.NoSettle
		}
	}
	return c
}

func (s *folderSection) validate() []error {
	if s.Root == "" {
		if len(s.OrganIDs) > 0 || s.Client != "" || s.Settle != nil || s.Poll != 0 || s.TakeOnWrite != nil || s.Workers != 0 {
			return []error{errors.New("folder.root: required when the folder section is given")}
		}
		return nil
	}
	if s.Settle != nil && *s.Settle < 0 {
		return []error{errors.New("folder.settle: must not be negative (0 takes files at once)")}
	}
	if err := s.config().Validate(); err != nil {
		var ce *folder.ConfigError
		if errors.As(err, &ce) {
			return []error{fmt.Errorf("folder.%s: %s", ce.Field, ce.Rule)}
		}
		return []error{fmt.Errorf("folder: %w", err)}
	}
	return nil
}

// startFolder prepares the drop folder, if configured; run (nil when there
// is nothing to run) is started with the edge and returns when ctx ends.
// An OrganId the directory gives to another edge is an error; one it does
// not know (yet) is a warning: its files go to failed/ until it is added.
func (n *edgeNode) startFolder(ctx context.Context) (run func(context.Context) error, err error) {
	s := n.cfg.Folder
	if s.Root == "" {
		return nil, nil
	}
	for i, id := range s.OrganIDs {
		a, ok := n.dir.Agency(id)
		switch {
		case !ok:
			n.log.Warn("edge: folder.organ_ids names an agency the directory does not know", "organ_id", id)
		case a.Edge != n.cfg.ID:
			return nil, fmt.Errorf("folder.organ_ids[%d]: %s is served by edge %s, not %s", i, id, a.Edge, n.cfg.ID)
		}
	}
	cfg := s.config()
	cfg.MaxFileBytes = int64(n.cfg.MaxPackageBytes)
	cfg.Logger = n.log.With("component", "folder")
	f, err := folder.New(cfg, n.edge)
	if err != nil {
		return nil, err
	}
	return f.Run, nil
}
