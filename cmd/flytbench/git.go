package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/sync/source"
)

// gitRound is one sync of every repository, 4 at a time as flyt's poller does.
type gitRound struct {
	Kind    string  `json:"kind"` // clone, one-new-commit-each, unchanged
	Repos   int     `json:"repos"`
	Seconds float64 `json:"seconds"`
	Changed int     `json:"changed"`
	// Skipped is the syncs that ls-remote answered without a fetch.
	Skipped      int     `json:"skipped"`
	ServerBytes  int64   `json:"serverBytes"`
	FetchBytes   float64 `json:"fetchBytes"` // packfile bytes received (flyt_git_fetch_bytes_total)
	UploadPacks  int64   `json:"uploadPacks"`
	InfoRefs     int64   `json:"infoRefs"`
	HTTPRequests int64   `json:"httpRequests"`
}

// gitScenario syncs the bench's repositories into a fresh flyt Git cache: a first clone,
// then rounds in which every repository has one new commit, then rounds in which nothing moved.
func (b *bench) gitScenario(ctx context.Context) ([]gitRound, error) {
	reg := prometheus.NewRegistry()
	cache := source.NewCache(filepath.Join(b.work, "gitcache"), source.Options{Metrics: source.NewMetrics(reg)})
	repos := make([]environments.Repository, len(b.fx.repos))
	for i, r := range b.fx.repos {
		repos[i] = environments.Repository{URL: r.URL(), Branch: "main"}
	}
	round := func(kind string) (gitRound, error) {
		gr := gitRound{Kind: kind, Repos: len(repos)}
		s0, fb0 := b.fx.srv.Stats(), gathered(reg, "flyt_git_fetch_bytes_total")
		var changed atomic.Int64
		start := time.Now()
		var g errgroup.Group
		g.SetLimit(4)
		for _, repo := range repos {
			g.Go(func() error {
				_, ch, err := cache.Sync(ctx, repo)
				if ch {
					changed.Add(1)
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return gr, err
		}
		gr.Seconds = time.Since(start).Seconds()
		s1 := b.fx.srv.Stats()
		gr.Changed = int(changed.Load())
		gr.Skipped = gr.Repos - gr.Changed
		gr.ServerBytes, gr.UploadPacks, gr.InfoRefs, gr.HTTPRequests = s1.BytesOut-s0.BytesOut, s1.UploadPacks-s0.UploadPacks, s1.InfoRefs-s0.InfoRefs, s1.Requests-s0.Requests
		gr.FetchBytes = gathered(reg, "flyt_git_fetch_bytes_total") - fb0
		return gr, nil
	}
	var out []gitRound
	r, err := round("clone")
	if err != nil {
		return out, err
	}
	out = append(out, r)
	for i := range b.c.Runs {
		for j, repo := range b.fx.repos {
			b.fx.files[j]["README.md"] = fmt.Sprintf("apps of team %d, round %d\n", j/reposPerTeam, i)
			if _, err := repo.CommitFiles(map[string]string{"README.md": b.fx.files[j]["README.md"]}, fmt.Sprintf("readme round %d", i)); err != nil {
				return out, err
			}
		}
		if r, err = round("one-new-commit-each"); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	for range b.c.Runs {
		if r, err = round("unchanged"); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func gathered(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	var t float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				t += m.GetCounter().GetValue()
			}
		}
	}
	return t
}
