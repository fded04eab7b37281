// Package k8scheck validates deploy/k8s against the Kubernetes API types,
// as `kubectl apply --dry-run=client` would before sending them (no cluster
// runs here). It lives in a module of its own so that k8s.io/client-go stays
// out of the main module; scripts/test.sh runs it.
package k8scheck

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const dir = "../../deploy/k8s"

// strict decodes into the typed objects of client-go's scheme (every
// built-in kind at this release) and fails on unknown or duplicate fields,
// wrong types and unknown apiVersion/kind.
var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// documents splits a multi-document YAML file.
func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 && !onlyComments(doc) {
			docs = append(docs, doc)
		}
	}
}

func onlyComments(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}

// manifests are the kustomization's resources and the example Secrets.
func manifests(t *testing.T) []string {
	t.Helper()
	var kust struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &kust); err != nil {
		t.Fatal(err)
	}
	if len(kust.Resources) == 0 {
		t.Fatal("kustomization.yaml lists no resources")
	}
	return append(kust.Resources, "secret.example.yaml")
}

func TestManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, f := range manifests(t) {
		for i, doc := range documents(t, filepath.Join(dir, f)) {
			obj, gvk, err := strict.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s document %d: %v", f, i+1, err)
				continue
			}
			if _, unstructured := obj.(runtime.Unstructured); unstructured {
				t.Errorf("%s document %d: %s is not a built-in kind", f, i+1, gvk)
			}
			kinds[gvk.Kind]++
		}
	}
	for _, k := range []string{"Deployment", "Job", "Service", "PodDisruptionBudget", "ConfigMap", "Secret"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among %v", k, kinds)
		}
	}
}

// TestStrictDecodingCatchesMistakes: the check fails on what a typo in a
// manifest looks like, so a pass means something.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"wrong type":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
		"unknown kind":  "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n",
		"probe typo":    "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: b, readinessProbe: {httpGet: {path: /readyz, prot: 8080}}}]}\n",
	} {
		if _, _, err := strict.Decode([]byte(doc), nil, nil); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
