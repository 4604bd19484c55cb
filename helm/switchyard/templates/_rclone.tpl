{{- /* rclone's view of the S3 repository, shared by the sync-models initContainer and the
model-sync sidecar so both read the same bucket with the same endpoint and credentials. */}}

{{- define "switchyard.rcloneRemote" -}}
{{- $s3 := .Values.modelRepository.s3 -}}
{{- printf ":s3:%s/%s" $s3.bucket (trimPrefix "/" $s3.prefix) | trimSuffix "/" -}}
{{- end }}

{{- define "switchyard.rcloneEnv" -}}
{{- $s3 := .Values.modelRepository.s3 -}}
- name: RCLONE_CONFIG
  value: /tmp/rclone.conf
- name: HOME
  value: /tmp
- name: RCLONE_S3_PROVIDER
  value: {{ ternary "AWS" "Other" (empty $s3.endpoint) }}
{{- with $s3.endpoint }}
- name: RCLONE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: RCLONE_S3_REGION
  value: {{ $s3.region | quote }}
# Credentials come from the environment: the Secret below, or IRSA / workload identity.
- name: RCLONE_S3_ENV_AUTH
  value: "true"
{{- with $s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $s3.accessKeyIdKey }}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $s3.secretAccessKeyKey }}}
{{- end }}
{{- end }}
