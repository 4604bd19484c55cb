{{/* Names of the enabled pools, as a JSON list (sorted: range over a map is sorted). */}}
{{- define "switchyard.enabledPools" -}}
{{- $names := list -}}
{{- range $name, $pool := .Values.pools -}}
{{- if $pool.enabled }}{{ $names = append $names $name }}{{ end -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* "true" when every enabled pool loads the same models (an empty list = the whole repository). */}}
{{- define "switchyard.poolsAgree" -}}
{{- $seen := dict -}}
{{- range $name, $pool := .Values.pools -}}
{{- if $pool.enabled }}{{ $_ := set $seen (toJson (sortAlpha ($pool.models | default list))) true }}{{ end -}}
{{- end -}}
{{- le (len $seen) 1 -}}
{{- end -}}

{{/*
One Service. Call with (dict "root" $ "name" .. "role" main|headless|pool "pool" <name or absent>
"selector" <labels YAML> "scrape" <bool> "type" <optional Service type>). ClusterIP Services (main, pool) balance connections,
and kube-proxy pins a gRPC client's one HTTP/2 connection to one pod until the server's max
connection age makes it reconnect; headless Services answer DNS with every READY pod's IP, for
clients balancing per call (dns:///<name>.<namespace>.svc.cluster.local:<port>, round_robin).
"scrape" marks the Services the ServiceMonitor selects: each pod behind exactly one of them.
*/}}
{{- define "switchyard.service" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $headless := eq .role "headless" -}}
{{- /* Cleartext HTTP/2 unless the port speaks TLS; an explicit service.appProtocol wins. */}}
{{- $appProtocol := $v.service.appProtocol | default (ternary "" "kubernetes.io/h2c" $v.tls.enabled) }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "switchyard.labels" $root | nindent 4 }}
    switchyard.io/service: {{ .role }}
    {{- with .pool }}
    switchyard.io/pool: {{ . }}
    {{- end }}
    {{- if .scrape }}
    switchyard.io/scrape: "true"
    {{- end }}
    {{- with $v.service.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if $headless }}
  type: ClusterIP
  clusterIP: None
  # Only ready pods: a loading or draining pod must not be in the DNS answer.
  publishNotReadyAddresses: false
  {{- else }}
  type: {{ .type | default $v.service.type }}
  {{- end }}
  selector:
    {{- .selector | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $v.service.port }}
      targetPort: grpc
      protocol: TCP
      {{- with $appProtocol }}
      appProtocol: {{ . }}
      {{- end }}
    {{- if gt (int $v.server.httpPort) 0 }}
    - name: http
      port: {{ $v.service.httpPort }}
      targetPort: http
      protocol: TCP
      appProtocol: {{ ternary "https" "http" $v.tls.enabled }}
    {{- end }}
    {{- if and $v.metrics.enabled (not $headless) }}
    - name: metrics
      port: {{ $v.server.metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: {{ ternary "https" "http" (and $v.tls.enabled $v.metrics.tls.enabled) }}
    {{- end }}
{{ end -}}
