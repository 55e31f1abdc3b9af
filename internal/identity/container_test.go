package identity

import (
	"maps"
	"testing"
)

func TestFillFromLabelsAndWorkload(t *testing.T) {
	for _, tc := range []struct {
		name       string
		c          Container
		wantNS     string
		wantName   string
		standalone bool
		wantLabels map[string]string
	}{
		{
			name:   "a plain container is standalone in container_namespace",
			c:      Container{ID: "abc", Labels: map[string]string{"app": "x"}},
			wantNS: DefaultNamespace, wantName: "abc", standalone: true, wantLabels: map[string]string{"app": "x"},
		},
		{
			name:   "kubearmor.io/namespace places it",
			c:      Container{ID: "abc", Name: "web", Labels: map[string]string{LabelNamespace: "team"}},
			wantNS: "team", wantName: "web", standalone: true, wantLabels: map[string]string{LabelNamespace: "team"},
		},
		{
			name:   "nerdctl names it",
			c:      Container{ID: "abc", Labels: map[string]string{LabelNerdctlName: "db"}},
			wantNS: DefaultNamespace, wantName: "db", standalone: true, wantLabels: map[string]string{LabelNerdctlName: "db"},
		},
		{
			name: "a pod container uses the pod's namespace, labels and container name",
			c: Container{ID: "abc", Labels: map[string]string{
				LabelPodName: "p", LabelPodNamespace: "shop", LabelKubeContainerName: "nginx", LabelNamespace: "ignored",
			}, PodLabels: map[string]string{"app": "web"}},
			wantNS: "shop", wantName: "nginx", wantLabels: map[string]string{"app": "web"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.FillFromLabels()
			w := c.Workload()
			if c.Namespace != tc.wantNS || w.Namespace != tc.wantNS || c.Name != tc.wantName ||
				w.Standalone != tc.standalone || !maps.Equal(w.Labels, tc.wantLabels) {
				t.Errorf("container %+v workload %+v", c, w)
			}
			if want := map[bool]string{true: c.Name, false: c.KubeContainerName}[tc.standalone]; w.ContainerName != want {
				t.Errorf("workload container name %q, want %q", w.ContainerName, want)
			}
		})
	}
}

func TestPodLabelsFrom(t *testing.T) {
	got := PodLabelsFrom(map[string]string{"app": "web", LabelPodUID: "u", LabelCRIKind: "sandbox", "io.kubernetes.pod.name": "p"})
	if !maps.Equal(got, map[string]string{"app": "web"}) {
		t.Errorf("got %v", got)
	}
}
