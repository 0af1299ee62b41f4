// Package monitoring ships etcdguard's Prometheus alerting rules
// (alerts.yaml, unit-tested by alerts_test.yaml with promtool) and its
// Grafana dashboard (dashboard.json); see README.md for what feeds them.
package monitoring

import _ "embed"

// Alerts is alerts.yaml.
//
//go:embed alerts.yaml
var Alerts []byte

// Dashboard is dashboard.json.
//
//go:embed dashboard.json
var Dashboard []byte
