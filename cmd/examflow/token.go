package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/storage"
)

// runToken manages API keys: create, list, revoke.
func runToken(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprint(os.Stderr, `Usage:
  examflow token create --name NAME --role ROLE[,ROLE] [--expires 720h]   print a new API key (shown once)
  examflow token list                                                    list keys (never their secrets)
  examflow token revoke ID                                               revoke a key at once

Roles: `+strings.Join(api.Roles(), ", ")+`
`)
		return errors.New("token: create, list or revoke")
	}
	fs := newFlags("token "+args[0], "Manage API keys (bearer tokens). Only a hash of each key is stored.", "  EXAMFLOW_DATABASE_URL")
	name := fs.String("name", "", "who or what the key is for (a person's user ID or a system's name); no personal data")
	roles := fs.String("role", "", "comma-separated roles")
	expires := fs.Duration("expires", 0, "lifetime; 0 means until revoked")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config.LoadWithoutSecrets()
	if err != nil {
		return err
	}
	pool, err := storage.OpenPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	// API keys are random and stored as SHA-256 hashes: no server key is
	// involved, so this command holds none.
	store := storage.NewStore(pool, nil)
	switch args[0] {
	case "create":
		rs, err := parseRoles(*roles)
		if err != nil {
			return err
		}
		if strings.TrimSpace(*name) == "" {
			return errors.New("--name is required")
		}
		var exp *time.Time
		if *expires > 0 {
			e := time.Now().Add(*expires)
			exp = &e
		}
		secret, t, err := store.CreateToken(ctx, *name, rs, exp)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created key %s for %s with roles %s; the secret is shown only now:\n", t.ID, t.Name, strings.Join(t.Roles, ","))
		fmt.Println(secret)
		return nil
	case "list":
		ts, err := store.Tokens(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tROLES\tCREATED\tEXPIRES\tREVOKED\tLAST USED")
		for _, t := range ts {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Roles, ","), t.CreatedAt.Format(time.RFC3339),
				orDash(t.ExpiresAt), orDash(t.RevokedAt), orDash(t.LastUsedAt))
		}
		return w.Flush()
	default:
		if fs.NArg() != 1 {
			return errors.New("token revoke needs the key's ID")
		}
		id, err := uuid.Parse(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("the key ID must be a UUID: %w", err)
		}
		if err := store.RevokeToken(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "revoked %s\n", id)
		return nil
	}
}

func parseRoles(s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(api.Roles(), r) {
			return nil, fmt.Errorf("unknown role %q; roles are %s", r, strings.Join(api.Roles(), ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--role is required")
	}
	return out, nil
}

func orDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
