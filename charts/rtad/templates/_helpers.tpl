{{/* Names ---------------------------------------------------------------------------- */}}

{{- define "rtad.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>", or the release name alone when it already contains the chart name. */}}
{{- define "rtad.fullname" -}}
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

{{/* Name of one component's resources: (dict "ctx" $ "component" "scorer") */}}
{{- define "rtad.componentName" -}}
{{- printf "%s-%s" (include "rtad.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels ----------------------------------------------------------------------------- */}}

{{- define "rtad.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rtad.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rtad.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{ include "rtad.selectorLabels" . }}
app.kubernetes.io/part-of: rtad
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* Release-wide selector of every rtad pod (NetworkPolicies). */}}
{{- define "rtad.instanceSelector" -}}
app.kubernetes.io/name: {{ include "rtad.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Images ----------------------------------------------------------------------------- */}}

{{/* (dict "ctx" $ "image" .Values.scorer.image) */}}
{{- define "rtad.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Redis ------------------------------------------------------------------------------ */}}

{{- define "rtad.redis.host" -}}
{{- include "rtad.componentName" (dict "ctx" . "component" "redis") }}
{{- end }}

{{- define "rtad.redis.secretName" -}}
{{- if .Values.redis.enabled }}
{{- default (include "rtad.componentName" (dict "ctx" . "component" "redis")) .Values.redis.auth.existingSecret }}
{{- else }}
{{- required "externalRedis.existingSecret is required when redis.enabled=false" .Values.externalRedis.existingSecret }}
{{- end }}
{{- end }}

{{/* host:port for KEDA's scaler, which runs in another namespace. */}}
{{- define "rtad.redis.address" -}}
{{- if .Values.redis.enabled }}
{{- printf "%s.%s.svc:6379" (include "rtad.redis.host" .) .Release.Namespace }}
{{- else }}
{{- required "externalRedis.address (host:port) is required for KEDA when redis.enabled=false" .Values.externalRedis.address }}
{{- end }}
{{- end }}

{{/* RTAD_REDIS_URL for every pipeline container, password from the Secret: Kubernetes
     expands $(RTAD_REDIS_PASSWORD) because that variable is defined just before. */}}
{{- define "rtad.redisEnv" -}}
{{- if .Values.redis.enabled }}
- name: RTAD_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "rtad.redis.secretName" . }}
      key: {{ .Values.redis.auth.passwordKey }}
- name: RTAD_REDIS_URL
  value: {{ printf "redis://:$(RTAD_REDIS_PASSWORD)@%s:6379/0" (include "rtad.redis.host" .) | quote }}
{{- else }}
- name: RTAD_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "rtad.redis.secretName" . }}
      key: {{ .Values.externalRedis.urlKey }}
{{- end }}
{{- end }}

{{/* The settings every service shares (rtad.common.settings.RtadSettings). */}}
{{- define "rtad.pipelineEnv" -}}
{{ include "rtad.redisEnv" . | trim }}
- name: RTAD_SHARDS
  value: {{ .Values.pipeline.shards | quote }}
- name: RTAD_STREAM_PREFIX
  value: {{ .Values.pipeline.streamPrefix | quote }}
- name: RTAD_HIGH_WATER
  value: {{ .Values.pipeline.highWater | quote }}
- name: RTAD_LOW_WATER
  value: {{ .Values.pipeline.lowWater | quote }}
{{- with .Values.pipeline.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod Security Standard "restricted" ------------------------------------------------ */}}

{{- define "rtad.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "rtad.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* Writable /tmp on a read-only root filesystem. */}}
{{- define "rtad.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "rtad.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Scheduling and pull secrets: (dict "ctx" $ "cfg" .Values.scorer) */}}
{{- define "rtad.scheduling" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Spark ------------------------------------------------------------------------------ */}}

{{- define "rtad.spark.masterUrl" -}}
{{- printf "spark://%s:%v" (include "rtad.componentName" (dict "ctx" . "component" "spark-master")) .Values.spark.master.port }}
{{- end }}

{{- define "rtad.spark.checkpointClaim" -}}
{{- default (include "rtad.componentName" (dict "ctx" . "component" "spark-checkpoint")) .Values.spark.checkpoint.existingClaim }}
{{- end }}

{{/* Secret value kept across upgrades: (dict "ctx" $ "secret" name "key" k "value" v) */}}
{{- define "rtad.secretValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $existing (index $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when an optional integration renders: its setting is true, or "auto" and the
     cluster serves its API (helm install asks the API server; helm template knows only the
     built-in APIs and those given with --api-versions). ctx, setting, api. */}}
{{- define "rtad.integrationOn" -}}
{{- $setting := toString .setting -}}
{{- if or (eq $setting "true") (and (eq $setting "auto") (.ctx.Capabilities.APIVersions.Has .api)) -}}
true
{{- end -}}
{{- end }}

{{/* "true" when the Prometheus Operator objects (ServiceMonitor, PodMonitor,
     PrometheusRule) render. */}}
{{- define "rtad.monitoring.operator" -}}
{{- include "rtad.integrationOn" (dict "ctx" . "setting" .Values.monitoring.enabled "api" "monitoring.coreos.com/v1") -}}
{{- end }}

{{/* What scales the scorer: "keda" (ScaledObject), "hpa" (CPU HorizontalPodAutoscaler, the
     fallback when KEDA is off or absent) or "" (scorer.replicas, fixed). */}}
{{- define "rtad.scorer.autoscaler" -}}
{{- $autoscaling := .Values.scorer.autoscaling -}}
{{- if include "rtad.integrationOn" (dict "ctx" . "setting" $autoscaling.keda.enabled "api" "keda.sh/v1alpha1") -}}
keda
{{- else if $autoscaling.hpa.enabled -}}
hpa
{{- end -}}
{{- end }}
