{{/* Names and labels, as `helm create` makes them. */}}
{{- define "dpa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dpa.fullname" -}}
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

{{- define "dpa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dpa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dpa.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dpa.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dpa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dpa.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dpa.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret that holds the serving certificate (made by the chart or cert-manager, or the user's). */}}
{{- define "dpa.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "dpa.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{/* The Service's DNS names: every name a client inside the cluster (or the aggregator) uses. */}}
{{- define "dpa.dnsNames" -}}
{{- $svc := include "dpa.fullname" . }}
{{- $names := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) }}
{{- concat $names .Values.tls.extraDNSNames | toYaml }}
{{- end }}

{{/* A volume from a Secret or a ConfigMap: (dict "kind" "Secret" "name" "x"). */}}
{{- define "dpa.fileVolume" -}}
{{- if eq .kind "Secret" }}
secret:
  secretName: {{ .name }}
{{- else if eq .kind "ConfigMap" }}
configMap:
  name: {{ .name }}
{{- else }}
{{- fail (printf "kind %q: want Secret or ConfigMap" .kind) }}
{{- end }}
{{- end }}

{{/* "true" when replicas share a storage (PostgreSQL, MySQL, etcd); else SQLite on the persistence volume. */}}
{{- define "dpa.sharedStorage" -}}
{{- if or .Values.storage.dsn .Values.storage.existingSecret .Values.storage.etcd.servers }}true{{ end }}
{{- end }}

{{/* Provisioning directories: value key → directory name. */}}
{{- define "dpa.provisioningDirs" -}}
datasources: datasources
plugins: plugins
accessControl: access-control
{{- end }}

{{- define "dpa.provisioningEnabled" -}}
{{- $v := .Values.provisioning }}
{{- range $key, $_ := include "dpa.provisioningDirs" . | fromYaml }}
{{- if or (get $v $key) (get $v.existingConfigMaps $key) }}true{{ end }}
{{- end }}
{{- end }}

{{/* Checks of values that would otherwise give a Deployment that cannot work. */}}
{{- define "dpa.validate" -}}
{{- $s := .Values.storage }}
{{- $n := 0 }}
{{- if $s.dsn }}{{ $n = add1 $n }}{{ end }}
{{- if $s.existingSecret }}{{ $n = add1 $n }}{{ end }}
{{- if $s.etcd.servers }}{{ $n = add1 $n }}{{ end }}
{{- if gt $n 1 }}
{{- fail "storage: set one of storage.dsn (+ storage.passwordSecret), storage.existingSecret and storage.etcd.servers" }}
{{- end }}
{{- if and (eq $n 0) (gt (int .Values.replicaCount) 1) }}
{{- fail "replicaCount > 1 needs shared storage: set storage.dsn (+ storage.passwordSecret), storage.existingSecret or storage.etcd.servers (SQLite, the default, is one replica's)" }}
{{- end }}
{{- if and $s.passwordSecret.name (not $s.dsn) }}
{{- fail "storage.passwordSecret goes with storage.dsn" }}
{{- end }}
{{- if and .Values.tls.existingSecret .Values.tls.certManager.enabled }}
{{- fail "tls: set tls.existingSecret or tls.certManager.enabled, not both" }}
{{- end }}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) }}
{{- fail "tls.certManager.issuerRef.name is required with tls.certManager.enabled" }}
{{- end }}
{{- if and .Values.apiService.enabled (not .Values.auth.requestHeader.name) }}
{{- fail "apiService.enabled: set auth.requestHeader.name to the aggregator's client CA (the kube-apiserver's --requestheader-client-ca-file), or dpa cannot tell who calls through it" }}
{{- end }}
{{- if and .Values.apiService.enabled .Values.tls.existingSecret (not .Values.apiService.caBundle) }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace .Values.tls.existingSecret }}
{{- if not (and $existing (index ($existing.data | default dict) "ca.crt")) }}
{{- fail "apiService.enabled with tls.existingSecret: set apiService.caBundle (the Secret has no ca.crt to read)" }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.serviceMonitor.tokenSecret.name) }}
{{- fail "metrics.serviceMonitor.enabled: set metrics.serviceMonitor.tokenSecret.name (a token of a user in system:monitoring)" }}
{{- end }}
{{- if and .Values.delegate.clientCertSecret (not .Values.delegate.url) }}
{{- fail "delegate.clientCertSecret goes with delegate.url" }}
{{- end }}
{{- end }}

{{/*
The chart-made serving certificate as a dict with ca.crt, tls.crt and tls.key (PEM): the one
already in the cluster when there is one (so an upgrade keeps it), else a new CA and a
certificate for the Service's names. Made once per render and shared by the Secret and the
APIServices' caBundle.
*/}}
{{- define "dpa.generatedCert" -}}
{{- if not (hasKey .Values.tls "_generated") }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "dpa.tlsSecretName" .) }}
{{- $data := dict }}
{{- if and $existing $existing.data (index $existing.data "tls.crt") (index $existing.data "ca.crt") }}
{{- range $k := list "ca.crt" "tls.crt" "tls.key" }}
{{- $_ := set $data $k (index $existing.data $k | b64dec) }}
{{- end }}
{{- else }}
{{- $days := int .Values.tls.selfSignedValidityDays }}
{{- $ca := genCA (printf "%s-ca" (include "dpa.fullname" .)) $days }}
{{- $names := include "dpa.dnsNames" . | fromYamlArray }}
{{- $cert := genSignedCert (include "dpa.fullname" .) nil $names $days $ca }}
{{- $_ := set $data "ca.crt" $ca.Cert }}
{{- $_ := set $data "tls.crt" $cert.Cert }}
{{- $_ := set $data "tls.key" $cert.Key }}
{{- end }}
{{- $_ := set .Values.tls "_generated" $data }}
{{- end }}
{{- toYaml .Values.tls._generated }}
{{- end }}

{{/* The CA bundle (PEM) that verifies dpa's serving certificate, or "" when cert-manager injects it. */}}
{{- define "dpa.caBundle" -}}
{{- if .Values.apiService.caBundle }}
{{- .Values.apiService.caBundle }}
{{- else if .Values.tls.existingSecret }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace .Values.tls.existingSecret }}
{{- if $existing }}{{ index ($existing.data | default dict) "ca.crt" | default "" | b64dec }}{{ end }}
{{- else if not .Values.tls.certManager.enabled }}
{{- index (include "dpa.generatedCert" . | fromYaml) "ca.crt" }}
{{- end }}
{{- end }}
