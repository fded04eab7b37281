// Package deploy_test checks the deployment files: docker-compose.yml and
// deploy/k8s parse, run the topology `make test-cluster` tests, and set only
// environment variables that webhookd reads (the env tags of config.Config).
// TestComposeDelivers (compose_test.go) runs against docker-compose.yml up,
// from `make test-compose`; tools/k8scheck checks deploy/k8s against the
// Kubernetes API types.
package deploy_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
)

// configVars are the variables config.Config reads.
func configVars(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ",")
		if name != "" && name != "-" {
			vars[name] = true
		}
	}
	if len(vars) < 20 || !vars["DATABASE_URL"] || !vars["TEMPORAL_TLS_CERT"] {
		t.Fatalf("reading config.Config's env tags: got %v", vars)
	}
	return vars
}

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// get walks a decoded document: get(doc, "spec", "template", "spec").
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func list(v any) []any { l, _ := v.([]any); return l }

func str(v any) string { s, _ := v.(string); return s }

// searchAttributes are scripts/stack.sh's SEARCH_ATTRIBUTES (name → type).
func searchAttributes(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../scripts/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "SEARCH_ATTRIBUTES=(":
			in = true
		case in && line == ")":
			in = false
		case in && strings.Contains(line, "="):
			name, typ, _ := strings.Cut(line, "=")
			out[name] = typ
		}
	}
	if len(out) == 0 {
		t.Fatal("no SEARCH_ATTRIBUTES in scripts/stack.sh")
	}
	return out
}

// serverVersion is the Temporal server version tools/temporal-server pins.
func serverVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../tools/temporal-server/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go\.temporal\.io/server v(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("tools/temporal-server/go.mod pins no go.temporal.io/server")
	}
	return string(m[1])
}

func TestComposeRunsTheClusterTopology(t *testing.T) {
	vars := configVars(t)
	docs := readYAML(t, "../docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	services, _ := docs[0]["services"].(map[string]any)
	roles := map[string]int{}
	for name, s := range services {
		image := str(get(s, "image"))
		if strings.Contains(image, "auto-setup") {
			t.Errorf("%s: %s; the schema is set up by Temporal's admin tools", name, image)
		}
		if get(s, "build") != "." { // webhookd's own image
			continue
		}
		cmd := list(get(s, "command"))
		if len(cmd) != 1 {
			t.Fatalf("%s: command %v", name, cmd)
		}
		roles[str(cmd[0])]++
		env, _ := get(s, "environment").(map[string]any)
		for k := range env {
			if !vars[k] {
				t.Errorf("%s sets %s, which webhookd does not read (config/config.go)", name, k)
			}
		}
		for _, k := range []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "SECRETS_KEY", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"} {
			if env[k] == nil {
				t.Errorf("%s does not set %s", name, k)
			}
		}
		if str(env["TEMPORAL_TLS_CERT"]) != "" && !slices.Contains(list(get(s, "volumes")), "certs:/certs:ro") {
			t.Errorf("%s: TLS files set but the certs volume is not mounted", name)
		}
		if cmd[0] == "api" && str(env["HTTP_ADDR"]) != "0.0.0.0:8080" {
			t.Errorf("api listens on %q", env["HTTP_ADDR"])
		}
	}
	if want := map[string]int{"migrate": 1, "api": 1, "worker": 2}; !reflect.DeepEqual(roles, want) {
		t.Errorf("webhookd containers by role %v, want %v", roles, want)
	}

	temporal := services["temporal"]
	if image := str(get(temporal, "image")); image != "temporalio/server:"+serverVersion(t) {
		t.Errorf("temporal runs %s; tools/temporal-server pins %s", image, serverVersion(t))
	}
	// The server runs deploy/temporal/server.yaml (what scripts/cluster.sh
	// generates for make test-cluster), mounted where --env webhooks reads it.
	if !slices.Contains(list(get(temporal, "volumes")), "./deploy/temporal/server.yaml:/etc/temporal/config/webhooks.yaml:ro") ||
		!strings.Contains(fmt.Sprint(get(temporal, "entrypoint")), "--env webhooks") {
		t.Errorf("temporal does not run deploy/temporal/server.yaml: %v %v", get(temporal, "entrypoint"), get(temporal, "volumes"))
	}
	server := readYAML(t, "temporal/server.yaml")[0]
	if get(server, "persistence", "numHistoryShards") != 4 ||
		get(server, "persistence", "datastores", "default", "sql", "pluginName") != "postgres12" ||
		get(server, "global", "tls", "frontend", "server", "requireClientAuth") != true ||
		get(server, "global", "tls", "internode", "server", "requireClientAuth") != true {
		t.Errorf("deploy/temporal/server.yaml: %v", server)
	}
	schema := strings.Join(strings.Fields(str(list(get(services["temporal-schema"], "command"))[0])), " ")
	for _, want := range []string{"create-database", "setup-schema -v 0.0", "update-schema --schema-name postgresql/v12/$$schema", "temporal_visibility:visibility"} {
		if !strings.Contains(schema, want) {
			t.Errorf("temporal-schema does not run %q: %s", want, schema)
		}
	}
	setup := strings.Join(strings.Fields(str(list(get(services["temporal-setup"], "command"))[0])), " ")
	for name, typ := range searchAttributes(t) {
		if !strings.Contains(setup, "--name "+name+" --type "+typ) {
			t.Errorf("temporal-setup does not register search attribute %s (%s)", name, typ)
		}
	}
	// The Temporal CLI reads its own variable names, not webhookd's.
	senv, _ := get(services["temporal-setup"], "environment").(map[string]any)
	for _, k := range []string{"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME"} {
		if str(senv[k]) == "" {
			t.Errorf("temporal-setup does not set %s for the Temporal CLI", k)
		}
	}
	for _, f := range []string{"deploy/postgres-init.sql", "deploy/tls/gen-certs.sh", "deploy/temporal/dynamicconfig.yaml"} {
		if _, err := os.Stat("../" + f); err != nil {
			t.Errorf("compose mounts %s: %v", f, err)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	vars := configVars(t)
	kust := readYAML(t, "k8s/kustomization.yaml")[0]
	var docs []map[string]any
	for _, r := range list(kust["resources"]) {
		docs = append(docs, readYAML(t, filepath.Join("k8s", str(r)))...)
	}
	secrets := readYAML(t, "k8s/secret.example.yaml")

	byKind := map[string]map[string]map[string]any{}
	for _, d := range append(slices.Clone(docs), secrets...) {
		kind, name := str(d["kind"]), str(get(d, "metadata", "name"))
		if kind == "" || name == "" {
			t.Fatalf("a document without kind or name: %v", d)
		}
		if byKind[kind] == nil {
			byKind[kind] = map[string]map[string]any{}
		}
		byKind[kind][name] = d
	}
	checkKeys := func(what string, m any) {
		kv, _ := m.(map[string]any)
		if len(kv) == 0 {
			t.Errorf("%s is empty", what)
		}
		for k := range kv {
			if !vars[k] {
				t.Errorf("%s sets %s, which webhookd does not read (config/config.go)", what, k)
			}
		}
	}
	checkKeys("ConfigMap webhookd", get(byKind["ConfigMap"]["webhookd"], "data"))
	checkKeys("Secret webhookd", get(byKind["Secret"]["webhookd"], "stringData"))
	tls := get(byKind["Secret"]["webhookd-temporal-tls"], "stringData").(map[string]any)
	cm := get(byKind["ConfigMap"]["webhookd"], "data").(map[string]any)
	for file, key := range map[string]string{"tls.crt": "TEMPORAL_TLS_CERT", "tls.key": "TEMPORAL_TLS_KEY", "ca.crt": "TEMPORAL_TLS_CA"} {
		if tls[file] == nil || str(cm[key]) != "/etc/temporal-tls/"+file {
			t.Errorf("%s: %q, and the TLS Secret has %s: %v", key, cm[key], file, tls[file] != nil)
		}
	}

	roles := map[string]map[string]any{}
	for _, kind := range []string{"Deployment", "Job"} {
		for name, d := range byKind[kind] {
			pod := get(d, "spec", "template", "spec")
			for _, c := range list(get(pod, "containers")) {
				if str(get(c, "image")) != "webhookd" {
					continue
				}
				args := list(get(c, "args"))
				if len(args) != 1 {
					t.Fatalf("%s %s: args %v", kind, name, args)
				}
				roles[str(args[0])] = c.(map[string]any)
				for _, e := range list(get(c, "env")) {
					if n := str(get(e, "name")); !vars[n] {
						t.Errorf("%s %s sets %s, which webhookd does not read", kind, name, n)
					}
				}
				var refs []string
				for _, ef := range list(get(c, "envFrom")) {
					refs = append(refs, str(get(ef, "configMapRef", "name"))+"/"+str(get(ef, "secretRef", "name")))
				}
				if !slices.Equal(refs, []string{"webhookd/", "/webhookd"}) {
					t.Errorf("%s %s: envFrom %v, want the ConfigMap and the Secret webhookd", kind, name, refs)
				}
				mounted := false
				for _, m := range list(get(c, "volumeMounts")) {
					mounted = mounted || get(m, "mountPath") == "/etc/temporal-tls"
				}
				if !mounted {
					t.Errorf("%s %s does not mount the Temporal client certificate", kind, name)
				}
			}
		}
	}
	for _, role := range []string{"migrate", "api", "worker"} {
		if roles[role] == nil {
			t.Errorf("no webhookd %s", role)
		}
	}
	if p := get(roles["api"], "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("api readiness probe %v, want /readyz", p)
	}
	if p := get(roles["api"], "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("api liveness probe %v, want /healthz", p)
	}
	// The worker's probes are on its metrics listener (METRICS_ADDR).
	if p, port := get(roles["worker"], "readinessProbe", "httpGet", "path"), get(roles["worker"], "readinessProbe", "httpGet", "port"); p != "/readyz" || port != "metrics" {
		t.Errorf("worker readiness probe %v on %v, want /readyz on metrics", p, port)
	}
	if p := get(roles["worker"], "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("worker liveness probe %v, want /healthz", p)
	}
	if !strings.HasSuffix(str(cm["METRICS_ADDR"]), ":9464") {
		t.Errorf("METRICS_ADDR %q: the worker's probes need its metrics listener on 9464", cm["METRICS_ADDR"])
	}
	if n, _ := get(byKind["Deployment"]["webhookd-worker"], "spec", "replicas").(int); n < 2 {
		t.Errorf("%d workers, want at least 2 (one takes over from another)", n)
	}
}
