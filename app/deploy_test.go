package app

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var metricNameRE = regexp.MustCompile(`\bqoo10hook_[a-z0-9_]+`)

// queriedFamilies returns the metric families an expression reads:
// a histogram's _bucket, _sum and _count series belong to its family.
func queriedFamilies(expr string, documented map[string]bool) []string {
	var out []string
	for _, name := range metricNameRE.FindAllString(expr, -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && documented[base] {
				name = base
			}
		}
		out = append(out, name)
	}
	return out
}

func documentedSet(t *testing.T) map[string]bool {
	set := map[string]bool{}
	for _, f := range documentedFamilies(t) {
		set[f.Name] = true
	}
	return set
}

// TestDashboardQueriesDocumentedMetrics: the Grafana dashboard is JSON
// Grafana can load, and every metric it queries is a documented family.
func TestDashboardQueriesDocumentedMetrics(t *testing.T) {
	t.Parallel()
	documented := documentedSet(t)
	b, err := os.ReadFile("../deploy/grafana/dashboards/qoo10hook.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) < 10 {
		t.Fatalf("dashboard uid %q title %q with %d panels", dash.UID, dash.Title, len(dash.Panels))
	}
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			names := queriedFamilies(tg.Expr, documented)
			if len(names) == 0 {
				t.Errorf("panel %q: %q reads no qoo10hook metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				queried[n] = true
				if !documented[n] {
					t.Errorf("panel %q queries %s, which docs/metrics.md does not document", p.Title, n)
				}
			}
		}
	}
	for _, must := range []string{"qoo10hook_store_deliveries", "qoo10hook_store_oldest_pending_delivery_age_seconds",
		"qoo10hook_webhook_attempts_total", "qoo10hook_webhook_end_to_end_seconds", "qoo10hook_parse_results_total",
		"qoo10hook_smtp_transactions_total", "qoo10hook_ready"} {
		if !queried[must] {
			t.Errorf("the dashboard does not show %s", must)
		}
	}
}

// TestAlertRules: the rules file names only documented metrics and
// covers what operators must hear about; promtool, when installed,
// checks it and runs its unit tests.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	documented := documentedSet(t)
	b, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			for _, n := range queriedFamilies(r.Expr, documented) {
				if !documented[n] {
					t.Errorf("alert %s reads %s, which docs/metrics.md does not document", r.Alert, n)
				}
			}
		}
	}
	for _, a := range []string{"Qoo10hookNotReady", "Qoo10hookEndpointFailing", "Qoo10hookDeadLettersGrowing",
		"Qoo10hookOldestPendingTooOld", "Qoo10hookParseFallbackHigh", "Qoo10hookSenderAuthFailures"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed (apt-get install prometheus): rules not checked by it")
		return
	}
	for _, args := range [][]string{{"check", "rules", "../deploy/prometheus/alerts.yml"}, {"test", "rules", "../deploy/prometheus/alerts_test.yml"}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDeployFilesParse: the compose file and Grafana's provisioning are
// YAML that names what the compose file mounts.
func TestDeployFilesParse(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"compose.yaml", "prometheus/prometheus.yml",
		"grafana/provisioning/datasources/prometheus.yml", "grafana/provisioning/dashboards/qoo10hook.yml"} {
		b, err := os.ReadFile("../deploy/" + f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if f == "compose.yaml" {
			svcs, _ := v["services"].(map[string]any)
			for _, s := range []string{"qoo10hook", "postgres", "prometheus", "grafana"} {
				if svcs[s] == nil {
					t.Errorf("compose.yaml has no %s service", s)
				}
			}
		}
	}
	unit, err := os.ReadFile("../deploy/systemd/qoo10hook.service")
	if err != nil {
		t.Fatal(err)
	}
	// A system user whose group can read /etc/qoo10hook: a DynamicUser
	// could not read the YAML file or a TLS key there.
	for _, line := range []string{"User=qoo10hook", "Group=qoo10hook", "StateDirectory=qoo10hook", "NoNewPrivileges=yes",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"ProtectSystem=strict", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("the systemd unit lacks %s", line)
		}
	}
}
