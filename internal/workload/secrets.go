package workload

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Environ is the environment of the workload's instances and of its
// release command, "KEY=value", sorted: Env and SecretEnv.
func (s Spec) Environ() []string {
	out := make([]string, 0, len(s.Env)+len(s.SecretEnv))
	for _, m := range []map[string]string{s.Env, s.SecretEnv} {
		for k, v := range m {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// SecretEnvKeys are the names of SecretEnv, sorted: names are not secret,
// and recording them lets import say which values it cannot read back.
func (s Spec) SecretEnvKeys() []string { return slices.Sorted(maps.Keys(s.SecretEnv)) }

// Masker hides secret values where they appear verbatim in text that the
// engine writes (an error's log lines, the logs data source).
type Masker struct{ secrets []string }

// MaskedValue replaces a secret value in masked text.
const MaskedValue = "[masked]"

// minMasked is the length under which a value is not masked: hiding every
// "1" or "on" would garble the lines and protect nothing.
const minMasked = 4

// NewMasker masks values; those shorter than four characters are left
// alone.
func NewMasker(values ...string) Masker {
	var m Masker
	for _, v := range values {
		if len(v) >= minMasked && !slices.Contains(m.secrets, v) {
			m.secrets = append(m.secrets, v)
		}
	}
	// The longest first: a value that holds another is masked whole.
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
	return m
}

// Masker masks the spec's env and secret values: every value of its
// environment is a secret.
func (s Spec) Masker() Masker {
	return NewMasker(append(slices.Collect(maps.Values(s.Env)), slices.Collect(maps.Values(s.SecretEnv))...)...)
}

// Mask returns text with every secret value replaced by MaskedValue.
func (m Masker) Mask(text string) string {
	for _, v := range m.secrets {
		text = strings.ReplaceAll(text, v, MaskedValue)
	}
	return text
}

// MaskLines is Mask of each line.
func (m Masker) MaskLines(lines []string) []string {
	if len(m.secrets) == 0 {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = m.Mask(l)
	}
	return out
}

// validateSecrets checks the secret env: names as for env, none set in
// env too (one value per variable, in one place).
func (s Spec) validateSecrets(add func(attr string, err error)) {
	for _, k := range s.SecretEnvKeys() {
		add("secret_env_wo", ValidateEnvName(k))
		if _, dup := s.Env[k]; dup {
			add("secret_env_wo", fmt.Errorf("secret_env_wo key %q is set in env too: set each variable in one of them", k))
		}
	}
	if s.SecretEnvVersion < 0 {
		add("secret_env_wo_version", fmt.Errorf("secret_env_wo_version must not be negative (got %d)", s.SecretEnvVersion))
	}
}
