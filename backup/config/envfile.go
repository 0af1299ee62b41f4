package config

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// LoadEnvFile sets, in this process only, the variables of an environment
// file in the part of systemd's EnvironmentFile= format such a file uses
// (KEY=VALUE lines; # or ; comments; a value wholly in single or double
// quotes loses them; no escapes, no line continuations) that the
// environment does not set already: the agent's /etc/etcdguard/env, with the store's credentials or
// a proxy. It is for a command that runs in another program's unit (the
// preflight in etcd's), where EnvironmentFile= would hand the variables to
// that program too: an HTTPS_PROXY meant for S3 would route etcd's own peer
// traffic. A missing file is no error (loaded is 0), as systemd's "-"
// prefix has it.
func LoadEnvFile(path string) (loaded int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("environment file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			// The line's text may hold a secret: name its number only.
			return loaded, fmt.Errorf("environment file %s, line %d: not KEY=VALUE", path, n)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		if _, set := os.LookupEnv(key); set {
			continue // the environment wins, as a flag wins over it
		}
		if err := os.Setenv(key, value); err != nil {
			return loaded, fmt.Errorf("environment file %s, line %d: %w", path, n, err)
		}
		loaded++
	}
	if err := sc.Err(); err != nil {
		return loaded, fmt.Errorf("environment file %s: %w", path, err)
	}
	return loaded, nil
}
