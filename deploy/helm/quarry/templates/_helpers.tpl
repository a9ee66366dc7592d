{{/* Namespace of every namespaced object: the release namespace (`helm install -n NS --create-namespace`). */}}
{{- define "quarry.namespace" -}}
{{ .Release.Namespace }}
{{- end -}}

{{- define "quarry.labels" -}}
app.kubernetes.io/part-of: quarry
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "quarry.validate" -}}
{{- if not (has .Values.mode (list "local" "shared")) -}}
{{- fail (printf "mode must be local or shared, not %q" .Values.mode) -}}
{{- end -}}
{{- if and (eq .Values.mode "local") (empty .Values.pools) -}}
{{- fail "local mode needs at least one entry in pools" -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag[@digest]; refuses an unpinned image. */}}
{{- define "quarry.image" -}}
{{- $reg := index . 0 -}}{{- $img := index . 1 -}}
{{- if and (empty $img.tag) (empty $img.digest) -}}{{- fail (printf "image %s needs a tag or a digest" $img.repository) -}}{{- end -}}
{{- if eq (toString $img.tag) "latest" -}}{{- fail (printf "image %s: pin a version, not latest" $img.repository) -}}{{- end -}}
{{- if $reg }}{{ $reg }}/{{ end }}{{ $img.repository }}{{ if $img.tag }}:{{ $img.tag }}{{ end }}{{ if $img.digest }}@{{ $img.digest }}{{ end }}
{{- end -}}

{{- define "quarry.driverImage" -}}
{{ include "quarry.image" (list .Values.image.registry .Values.image) }}
{{- end -}}

{{- define "quarry.sidecarImage" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{ include "quarry.image" (list $root.Values.sidecars.registry (index $root.Values.sidecars $name)) }}
{{- end -}}

{{/* Host directory of the plugin socket. */}}
{{- define "quarry.pluginDir" -}}
{{ .Values.kubeletDir }}/plugins/{{ .Values.driverName }}
{{- end -}}

{{/* Common quarry flags after the subcommand. */}}
{{- define "quarry.commonArgs" -}}
- --endpoint=unix:///csi/csi.sock
{{- end -}}

{{- define "quarry.tuningArgs" -}}
- --log-level={{ .Values.logLevel }}
{{- if .Values.overprovisioning }}
- --overprovisioning={{ .Values.overprovisioning }}
{{- end }}
{{- if .Values.maxVolumesPerNode }}
- --max-volumes-per-node={{ .Values.maxVolumesPerNode }}
{{- end }}
{{- if .Values.metrics.enabled }}
- --metrics-addr=:{{ .Values.metrics.port }}
{{- end }}
{{- include "quarry.extraArgs" (list . "quarry") }}
{{- end -}}

{{/*
securityContext of an unprivileged container: no escalation, no capabilities, the runtime's
default seccomp profile; values.securityContext.<key> is merged over it. args: root, values key.
*/}}
{{- define "quarry.unprivilegedSecurityContext" -}}
{{- $root := index . 0 -}}{{- $key := index . 1 -}}
{{- $base := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") -}}
securityContext:
  {{- toYaml (mergeOverwrite $base (deepCopy (index $root.Values.securityContext $key | default dict))) | nindent 2 }}
{{- end -}}

{{/* values.extraArgs.<key>, one list item each. args: root, values key. */}}
{{- define "quarry.extraArgs" -}}
{{- $root := index . 0 -}}{{- $key := index . 1 -}}
{{- range (index $root.Values.extraArgs $key | default list) }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The service-account token, for the containers that call the Kubernetes API only: pods set
automountServiceAccountToken: false and these containers mount this projected volume where
client-go looks for it.
*/}}
{{- define "quarry.apiTokenVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 292 # 0444: decimal, so no YAML parser reads it differently
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end -}}

{{- define "quarry.apiTokenMount" -}}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end -}}

{{- define "quarry.quarryPorts" -}}
ports:
  - name: healthz
    containerPort: {{ .Values.healthPort }}
    protocol: TCP
{{- if .Values.metrics.enabled }}
  - name: metrics
    containerPort: {{ .Values.metrics.port }}
    protocol: TCP
{{- end }}
livenessProbe:
  httpGet:
    path: /healthz
    port: healthz
  initialDelaySeconds: 10
  timeoutSeconds: 3
  periodSeconds: 10
  failureThreshold: 5
{{- end -}}

{{/* The livenessprobe sidecar, serving /healthz on the quarry container's healthz port. */}}
{{- define "quarry.livenessProbeContainer" -}}
{{- $root := index . 0 -}}{{- $vol := index . 1 -}}
- name: liveness-probe
  image: {{ include "quarry.sidecarImage" (list $root "livenessProbe") }}
  imagePullPolicy: {{ $root.Values.sidecars.pullPolicy }}
  args:
    - --csi-address=/csi/csi.sock
    - --http-endpoint=:{{ $root.Values.healthPort }}
    - --probe-timeout=3s
    {{- include "quarry.extraArgs" (list $root "livenessProbe") | nindent 4 }}
  {{- include "quarry.unprivilegedSecurityContext" (list $root "livenessProbe") | nindent 2 }}
  resources:
    {{- toYaml $root.Values.resources.livenessProbe | nindent 4 }}
  volumeMounts:
    - name: {{ $vol }}
      mountPath: /csi
{{- end -}}

{{/* A leader-elected controller sidecar. args: root, container name, values key, port, extra args list */}}
{{- define "quarry.controllerSidecar" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}{{- $key := index . 2 -}}{{- $port := index . 3 -}}{{- $extra := index . 4 -}}{{- $portName := index . 5 -}}
- name: {{ $name }}
  image: {{ include "quarry.sidecarImage" (list $root $key) }}
  imagePullPolicy: {{ $root.Values.sidecars.pullPolicy }}
  args:
    - --v={{ $root.Values.sidecarLogLevel }}
    - --csi-address=/csi/csi.sock
    - --timeout={{ $root.Values.sidecarTimeout }}
    {{- range $extra }}
    - {{ . }}
    {{- end }}
    - --leader-election
    - --leader-election-namespace=$(NAMESPACE)
    - --http-endpoint=:{{ $port }}
    {{- include "quarry.extraArgs" (list $root $key) | nindent 4 }}
  env:
    - name: NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
  {{- include "quarry.unprivilegedSecurityContext" (list $root $key) | nindent 2 }}
  ports:
    - name: {{ $portName }}
      containerPort: {{ $port }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /healthz/leader-election
      port: {{ $portName }}
    initialDelaySeconds: 10
    timeoutSeconds: 10
    periodSeconds: 20
  resources:
    {{- toYaml (index $root.Values.resources $key) | nindent 4 }}
  volumeMounts:
    - name: socket-dir
      mountPath: /csi
    {{- include "quarry.apiTokenMount" $root | nindent 4 }}
{{- end -}}
