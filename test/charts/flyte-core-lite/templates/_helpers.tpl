{{- define "flyte.namespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{- define "flyte.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "flyteadmin.selectorLabels" -}}
app.kubernetes.io/name: flyteadmin
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flyteadmin.labels" -}}
app.kubernetes.io/name: flyteadmin
{{ include "flyte.labels" . }}
{{- end -}}

{{- define "flyteclusterresourcesync.selectorLabels" -}}
app.kubernetes.io/name: flyteclusterresourcesync
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flyteclusterresourcesync.labels" -}}
app.kubernetes.io/name: flyteclusterresourcesync
{{ include "flyte.labels" . }}
{{- end -}}
