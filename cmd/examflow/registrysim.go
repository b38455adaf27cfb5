package main

import (
	"context"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/registry"
)

func runRegistrySim(ctx context.Context, args []string) error {
	fs := newFlags("registry-sim", `Run a simulator of the Diploma Registry: OAuth2 client-credentials tokens, publications stored
in memory by publication key (GET /v1/publications lists them), and /control/fail and /control/slow
to make it fail or slow down. make run starts it.`,
		"  EXAMFLOW_REGISTRY_SIM_ADDR (default 127.0.0.1:8090), EXAMFLOW_REGISTRY_CLIENT_ID, EXAMFLOW_REGISTRY_CLIENT_SECRET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	logger := cfg.NewLogger().With("process", "registry-sim")
	sim := registry.NewSimulator(cfg.Registry.ClientID, cfg.Registry.ClientSecret)
	return serve(ctx, logger, cfg.Registry.SimulatorAddr, sim)
}
