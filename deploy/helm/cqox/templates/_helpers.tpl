{{/* The release's name for every object of the chart. */}}
{{- define "cqox.fullname" -}}
{{ .Release.Name }}-cqox
{{- end }}

{{/* Labels shared by every object. */}}
{{- define "cqox.labels" -}}
app.kubernetes.io/name: cqox
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: Helm
helm.sh/chart: cqox-{{ .Chart.Version }}
{{- end }}

{{/* The pod security context: an unprivileged user, as in the image. */}}
{{- define "cqox.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The container security context: read-only root, no privilege, no capability. */}}
{{- define "cqox.containerSecurity" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
{{- end }}
