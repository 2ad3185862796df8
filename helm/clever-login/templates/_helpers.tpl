{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "clever-login.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "clever-login.fullname" -}}
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

{{- define "clever-login.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "clever-login.labels" -}}
helm.sh/chart: {{ include "clever-login.chart" . }}
{{ include "clever-login.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selects the login backend's pods (component "server"). */}}
{{- define "clever-login.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clever-login.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "clever-login.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "clever-login.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "clever-login.secretName" -}}
{{- default (include "clever-login.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "clever-login.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The preStop hook. The kubelet's `sleep` action (beta and on by default from Kubernetes 1.30) needs
nothing in the image; `exec` runs the image's own `sleep` and works on every version.
*/}}
{{- define "clever-login.preStop" -}}
{{- $mode := .Values.preStop.mode }}
{{- if eq $mode "auto" }}
{{- $mode = ternary "sleep" "exec" (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version) }}
{{- end }}
preStop:
{{- if eq $mode "sleep" }}
  sleep:
    seconds: {{ .Values.preStop.sleepSeconds }}
{{- else }}
  exec:
    command: ["sleep", {{ .Values.preStop.sleepSeconds | quote }}]
{{- end }}
{{- end }}

{{/*
The grace period must cover the preStop sleep and uvicorn's graceful shutdown, or Kubernetes
kills the pod with requests still open.
*/}}
{{- define "clever-login.checkGracePeriod" -}}
{{- $needed := add .Values.preStop.sleepSeconds .Values.server.gracefulShutdownSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least preStop.sleepSeconds + server.gracefulShutdownSeconds (%d); leave a few seconds more" (int .Values.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- end }}

{{/* Environment shared by the server and the events worker: the ConfigMap and the Secret. */}}
{{- define "clever-login.env" -}}
{{- $secret := include "clever-login.secretName" . }}
{{- $keys := .Values.secrets.keys }}
envFrom:
  - configMapRef:
      name: {{ include "clever-login.fullname" . }}
env:
  - name: CLEVER_CLIENT_SECRET
    valueFrom:
      secretKeyRef:
        name: {{ $secret }}
        key: {{ $keys.cleverClientSecret }}
  - name: SESSION_SECRET
    valueFrom:
      secretKeyRef:
        name: {{ $secret }}
        key: {{ $keys.sessionSecret }}
  - name: REDIS_URL
    valueFrom:
      secretKeyRef:
        name: {{ $secret }}
        key: {{ $keys.redisUrl }}
  - name: SERVICE_CLIENTS
    valueFrom:
      secretKeyRef:
        name: {{ $secret }}
        key: {{ $keys.serviceClients }}
        optional: true
  - name: SESSION_SECRET_PREVIOUS
    valueFrom:
      secretKeyRef:
        name: {{ $secret }}
        key: {{ $keys.sessionSecretPrevious }}
        optional: true
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Pod-level fields shared by both Deployments. */}}
{{- define "clever-login.podCommon" -}}
serviceAccountName: {{ include "clever-login.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
