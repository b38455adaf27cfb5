package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/storage"
)

// urlVar is the tokens.env variable of the API's base URL, which the
// README's examples call.
const urlVar = "EXAMFLOW_URL"

// tokenVar is the tokens.env variable of a role, e.g. EXAMFLOW_TOKEN_CASE_HANDLER.
func tokenVar(role string) string { return "EXAMFLOW_TOKEN_" + strings.ToUpper(role) }

// readTokensEnv reads a tokens.env file (VAR=value lines; # comments).
func readTokensEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// ensureDevTokens makes sure the local stack has one API key per role and
// writes them to <dir>/tokens.env (mode 0600), with the API's base URL as
// EXAMFLOW_URL. Keys from an earlier run
// that still work are kept; only a hash of each is in the database, so a
// lost file means new keys.
func ensureDevTokens(ctx context.Context, cfg config.Config, dir string) (string, error) {
	path := filepath.Join(dir, "tokens.env")
	old, err := readTokensEnv(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	pool, err := storage.OpenPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	key, _ := cfg.LookupKey()
	store := storage.NewStore(pool, key)
	var b strings.Builder
	b.WriteString("# The API of the local stack and its keys, one per role (examflow dev). Use them as\n#   curl -H \"Authorization: Bearer $EXAMFLOW_TOKEN_CASE_HANDLER\" \"$EXAMFLOW_URL/v1/...\"\n# after: set -a; . " + path + "; set +a\n")
	fmt.Fprintf(&b, "%s=http://%s\n", urlVar, cfg.APIAddr)
	for _, role := range api.Roles() {
		secret := old[tokenVar(role)]
		if secret != "" {
			t, err := store.AuthenticateToken(ctx, secret, time.Now())
			if err != nil || len(t.Roles) != 1 || t.Roles[0] != role {
				secret = ""
			}
		}
		if secret == "" {
			if secret, _, err = store.CreateToken(ctx, "dev-"+role, []string{role}, nil); err != nil {
				return "", err
			}
		}
		fmt.Fprintf(&b, "%s=%s\n", tokenVar(role), secret)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
