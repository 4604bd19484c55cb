{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix: the release name alone when it already contains the chart name. */}}
{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource. */}}
{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selects the server pods of every pool (what the Services target). */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{/* Selects one pool's pods. Call with (dict "root" $ "pool" $name). */}}
{{- define "switchyard.poolSelectorLabels" -}}
{{ include "switchyard.selectorLabels" .root }}
switchyard.io/pool: {{ .pool }}
{{- end -}}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* "<repository>:<tag>" of a pool. Call with (dict "root" $ "pool" $poolValues). */}}
{{- define "switchyard.image" -}}
{{- $img := .pool.image | default dict -}}
{{- $repo := $img.repository | default .root.Values.image.repository -}}
{{- $flavor := $img.flavor | default "cpu" -}}
{{- $tag := $img.tag | default (printf "%s-%s" (.root.Values.image.tag | default .root.Chart.AppVersion) $flavor) -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* The image holding the default models in /models (docker target "bundled" of Dockerfile.cpu). */}}
{{- define "switchyard.modelsImage" -}}
{{- $b := .Values.modelRepository.bundled -}}
{{- $repo := $b.repository | default .Values.image.repository -}}
{{- printf "%s:%s" $repo ($b.tag | default (printf "%s-cpu-models" (.Values.image.tag | default .Chart.AppVersion))) -}}
{{- end -}}

{{/*
Accelerator resource of a pool as "name=count", or "" for none.
Call with (dict "name" $poolName "pool" $poolValues).
*/}}
{{- define "switchyard.accelerator" -}}
{{- $count := int (.pool.gpus | default 0) -}}
{{- if gt $count 0 -}}
{{- if and (eq .name "intel") (eq (toString .pool.device) "npu") -}}
{{- printf "%s=%d" (.pool.npuResource | default "npu.intel.com/accel") $count -}}
{{- else if .pool.gpuResource -}}
{{- printf "%s=%d" .pool.gpuResource $count -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret the gRPC port's certificate comes from (cert-manager's when it issues one). */}}
{{- define "switchyard.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "switchyard.fullname" .)) -}}
{{- end -}}

{{/* The DNS names of the Services (what clients in the cluster dial), one per line. */}}
{{- define "switchyard.serviceDnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $domain := .Values.tls.certManager.clusterDomain -}}
{{- $fullname := include "switchyard.fullname" . -}}
{{- /* The main name stays even without a spanning Service: Prometheus checks it (metrics.tls). */}}
{{- $services := list $fullname -}}
{{- if .Values.service.headless.enabled }}{{ $services = append $services (printf "%s-headless" $fullname) }}{{ end -}}
{{- $pools := include "switchyard.enabledPools" . | fromJsonArray -}}
{{- if gt (len $pools) 1 -}}
{{- range $pools }}
{{- $services = append $services (printf "%s-%s" $fullname .) -}}
{{- if $.Values.service.headless.enabled }}{{ $services = append $services (printf "%s-%s-headless" $fullname .) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- range $services }}
{{ . }}
{{ . }}.{{ $ns }}
{{ . }}.{{ $ns }}.svc
{{ . }}.{{ $ns }}.svc.{{ $domain }}
{{- end -}}
{{- end -}}

{{/* Name of the engine-cache claim. */}}
{{- define "switchyard.cacheClaimName" -}}
{{- .Values.cache.pvc.existingClaim | default (printf "%s-cache" (include "switchyard.fullname" .)) -}}
{{- end -}}

{{/* Fails rendering on value combinations a JSON schema cannot express. */}}
{{- define "switchyard.validate" -}}
{{- $lc := .Values.lifecycle -}}
{{- $needed := add (int $lc.preStopSleepSeconds) (int (ceil .Values.server.gracePeriodSeconds)) -}}
{{- if le (int $lc.terminationGracePeriodSeconds) $needed -}}
{{- fail (printf "lifecycle.terminationGracePeriodSeconds (%d) must be greater than lifecycle.preStopSleepSeconds + server.gracePeriodSeconds (%d), or Kubernetes kills the pod before it has drained" (int $lc.terminationGracePeriodSeconds) $needed) -}}
{{- end -}}
{{- $enabled := 0 -}}
{{- range $name, $pool := .Values.pools -}}
{{- if $pool.enabled }}{{ $enabled = add1 $enabled }}{{ end -}}
{{- end -}}
{{- if eq $enabled 0 -}}
{{- fail "pools: enable at least one pool (pools.cpu.enabled, pools.nvidia.enabled, ...)" -}}
{{- end -}}
{{- $src := .Values.modelRepository.source -}}
{{- if and (eq $src "pvc") (not .Values.modelRepository.pvc.claimName) -}}
{{- fail "modelRepository.source is \"pvc\": set modelRepository.pvc.claimName to an existing PersistentVolumeClaim" -}}
{{- end -}}
{{- if and (eq $src "s3") (not .Values.modelRepository.s3.bucket) -}}
{{- fail "modelRepository.source is \"s3\": set modelRepository.s3.bucket" -}}
{{- end -}}
{{- if and (eq .Values.cache.type "pvc") (not .Values.cache.pvc.existingClaim) (not .Values.cache.pvc.create) -}}
{{- fail "cache.type is \"pvc\": set cache.pvc.existingClaim, or cache.pvc.create=true" -}}
{{- end -}}
{{- if and .Values.grpcRoute.enabled (ne (include "switchyard.poolsAgree" .) "true") -}}
{{- fail "grpcRoute.enabled: the enabled pools load different `models`, so no Service spans them; give every pool the same models, or enable one pool per release" -}}
{{- end -}}
{{- if and .Values.grpcRoute.enabled (not .Values.grpcRoute.parentRefs) -}}
{{- fail "grpcRoute.enabled: set grpcRoute.parentRefs to the Gateway(s) to attach to" -}}
{{- end -}}
{{- end -}}

{{/* A storage quantity ("10Gi", "512Mi", "1Ti") in MiB; binary suffixes only. */}}
{{- define "switchyard.mebibytes" -}}
{{- $q := toString . -}}
{{- if hasSuffix "Ti" $q -}}{{ mul (trimSuffix "Ti" $q | int64) 1048576 }}
{{- else if hasSuffix "Gi" $q -}}{{ mul (trimSuffix "Gi" $q | int64) 1024 }}
{{- else if hasSuffix "Mi" $q -}}{{ trimSuffix "Mi" $q | int64 }}
{{- else -}}{{ fail (printf "size %q: use a whole number of Mi, Gi or Ti" $q) }}
{{- end -}}
{{- end -}}
