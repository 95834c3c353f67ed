{{- define "pllm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pllm.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pllm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pllm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pllm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "pllm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "pllm.secretName" -}}
{{- default (include "pllm.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Seconds between the pod's deletion and its kill: the preStop sleep, the drain delay and
the drain timeout, plus a margin for the spend flush. */}}
{{- define "pllm.terminationGracePeriodSeconds" -}}
{{- $d := .Values.drain }}
{{- $min := add $d.preStopSleepSeconds $d.delaySeconds $d.timeoutSeconds }}
{{- if .Values.terminationGracePeriodSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $min) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed drain.preStopSleepSeconds + drain.delaySeconds + drain.timeoutSeconds (%v)" .Values.terminationGracePeriodSeconds $min) }}
{{- end }}
{{- .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- add $min 10 }}
{{- end }}
{{- end }}

{{/* config.yaml: the values' config with the settings the chart owns set over it. */}}
{{- define "pllm.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $general := deepCopy (default (dict) (get $config "general_settings")) }}
{{- $_ := set $general "master_key" "${PLLM_MASTER_KEY}" }}
{{- $_ := set $general "database_url" "${PLLM_DATABASE_URL:-}" }}
{{- $_ := set $general "data_dir" "/var/lib/pllm" }}
{{- $_ := set $general "admin_host" "0.0.0.0" }}
{{- $_ := set $general "admin_port" (int .Values.admin.port) }}
{{- $_ := set $general "metrics_port" (ternary (int .Values.metrics.port) 0 .Values.metrics.enabled) }}
{{- $_ := set $general "drain_delay" .Values.drain.delaySeconds }}
{{- $_ := set $general "drain_timeout" .Values.drain.timeoutSeconds }}
{{- $_ := set $config "general_settings" $general }}
{{- $server := deepCopy (default (dict) (get $config "server")) }}
{{- $_ := set $server "host" "0.0.0.0" }}
{{- $_ := set $server "port" (int .Values.server.port) }}
{{- $_ := set $config "server" $server }}
{{- toYaml $config }}
{{- end }}
