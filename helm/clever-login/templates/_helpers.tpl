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

{{/* The events worker's labels: the same, with component "events". */}}
{{- define "clever-login.eventsLabels" -}}
{{- include "clever-login.labels" . | replace "component: server" "component: events" }}
{{- end }}

{{- define "clever-login.eventsSelectorLabels" -}}
{{- include "clever-login.selectorLabels" . | replace "component: server" "component: events" }}
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

{{/*
What an install cannot do without, all reported at once. Helm's lint skips `fail`, so the defaults
lint; `helm install` and `helm template` stop here with the whole list.
*/}}
{{- define "clever-login.checkRequired" -}}
{{- $problems := list }}
{{- $settings := list }}
{{- range $key := list "cleverClientId" "cleverRedirectUri" "frontendUrl" }}
{{- if not (index $.Values.config $key) }}
{{- $settings = append $settings (printf "config.%s" $key) }}
{{- end }}
{{- end }}
{{- with $settings }}
{{- $problems = append $problems (printf "Missing settings: %s." (join ", " .)) }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- $inline := list }}
{{- range $key := list "cleverClientSecret" "sessionSecret" "redisUrl" }}
{{- if not (index $.Values.secrets $key) }}
{{- $inline = append $inline (printf "secrets.%s" $key) }}
{{- end }}
{{- end }}
{{- if $inline }}
{{- $keys := .Values.secrets.keys }}
{{- $problems = append $problems (printf "Missing credentials: set secrets.existingSecret to the name of a Secret holding the keys %s, %s and %s (recommended), or give secrets.cleverClientSecret, secrets.sessionSecret and secrets.redisUrl (missing: %s)." $keys.cleverClientSecret $keys.sessionSecret $keys.redisUrl (join ", " $inline)) }}
{{- end }}
{{- end }}
{{- if $problems }}
{{- fail (printf "%s See docs/deploy.md, \"Settings and secrets\"." (join " " $problems)) }}
{{- end }}
{{- end }}

{{/*
The pod's topologySpreadConstraints: the ones given, each without a labelSelector getting the pod's
own (pass the Deployment's selector labels as "selector"), or else the default soft spread.
*/}}
{{- define "clever-login.topologySpread" -}}
{{- $v := .root.Values }}
{{- $selector := .selector | fromYaml }}
{{- $constraints := list }}
{{- if $v.topologySpreadConstraints }}
{{- range $v.topologySpreadConstraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
{{- else if $v.topologySpread.enabled }}
{{- range $v.topologySpread.topologyKeys }}
{{- $constraints = append $constraints (dict "maxSkew" $v.topologySpread.maxSkew "topologyKey" . "whenUnsatisfiable" $v.topologySpread.whenUnsatisfiable "labelSelector" (dict "matchLabels" $selector) "matchLabelKeys" (list "pod-template-hash")) }}
{{- end }}
{{- end }}
{{- with $constraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Volumes of both pods: the /tmp emptyDir (the root filesystem is read-only), then extraVolumes. */}}
{{- define "clever-login.volumes" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpSizeLimit }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{- define "clever-login.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
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
