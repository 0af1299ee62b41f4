// Package release_test checks what a release ships: one VERSION in both
// binaries and in the provider's user agent, and `make release`'s artefacts
// installed by the real terraform from a packed filesystem mirror.
package release_test
