{{/* Names and labels. */}}
{{- define "anomaly-gan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "anomaly-gan.fullname" -}}
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

{{/* The pre-install/pre-upgrade config check (its ConfigMap, Job and NetworkPolicy): a Job's
name goes into its pods' job-name label, 63 characters at most. */}}
{{- define "anomaly-gan.validateConfigName" -}}
{{- printf "%s-validate-config" (include "anomaly-gan.fullname" . | trunc 47 | trimSuffix "-") }}
{{- end }}

{{/* CronJob names may be 52 characters at most: the controller appends 11 for each Job. */}}
{{- define "anomaly-gan.retrainName" -}}
{{- printf "%s-retrain" (include "anomaly-gan.fullname" . | trunc 44 | trimSuffix "-") }}
{{- end }}

{{- define "anomaly-gan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "anomaly-gan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "anomaly-gan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "anomaly-gan.labels" -}}
helm.sh/chart: {{ include "anomaly-gan.chart" . }}
{{ include "anomaly-gan.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: anomaly-gan
{{- end }}

{{/*
The labels of a pod template, from (dict "ctx" $ "component" <name>): the chart's labels and
component, then podLabels, each key once. podLabels may replace the chart's other labels
(app.kubernetes.io/part-of, a team's convention) but not the selector's, which validate refuses.
*/}}
{{- define "anomaly-gan.podLabels" -}}
{{- $labels := include "anomaly-gan.labels" .ctx | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/component" .component }}
{{- toYaml (mergeOverwrite $labels (.ctx.Values.podLabels | default dict)) }}
{{- end }}

{{- define "anomaly-gan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "anomaly-gan.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference from (dict "image" <repository/tag/digest values> "defaultTag" <tag>):
repository@digest when a digest is set, else repository:tag (repository alone without a tag).
*/}}
{{- define "anomaly-gan.imageRef" -}}
{{- $tag := default .defaultTag .image.tag }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else if $tag }}
{{- printf "%s:%s" .image.repository $tag }}
{{- else }}
{{- .image.repository }}
{{- end }}
{{- end }}

{{/* The project image, run by the scorer, the retraining Job and the config check. */}}
{{- define "anomaly-gan.image" -}}
{{- include "anomaly-gan.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion) }}
{{- end }}

{{- define "anomaly-gan.modelClaimName" -}}
{{- default (printf "%s-models" (include "anomaly-gan.fullname" .)) .Values.model.persistence.existingClaim }}
{{- end }}

{{/* Where the chart mounts files inside the pod. */}}
{{- define "anomaly-gan.configDir" -}}/etc/anomaly-gan{{- end }}
{{- define "anomaly-gan.configFile" -}}/etc/anomaly-gan/config.yaml{{- end }}
{{/* The silences ConfigMap's mount: beside the config's, not in it (kubelet updates each). */}}
{{- define "anomaly-gan.silencesDir" -}}/etc/anomaly-gan-silences{{- end }}
{{- define "anomaly-gan.silencesFile" -}}/etc/anomaly-gan-silences/silences.yaml{{- end }}
{{- define "anomaly-gan.silencesOn" -}}{{ if or .Values.silences.enabled .Values.silences.entries }}true{{ end }}{{- end }}
{{/* Secrets live outside the ConfigMap's mount: no volume is nested in another. */}}
{{- define "anomaly-gan.saslDir" -}}/var/run/secrets/anomaly-gan/kafka-sasl{{- end }}
{{- define "anomaly-gan.caDir" -}}/var/run/secrets/anomaly-gan/kafka-ca{{- end }}
{{- define "anomaly-gan.clientCertDir" -}}/var/run/secrets/anomaly-gan/kafka-client-tls{{- end }}
{{- define "anomaly-gan.keyPasswordDir" -}}/var/run/secrets/anomaly-gan/kafka-key-password{{- end }}

{{/* Cross-field checks the schema cannot express with a clear message. */}}
{{- define "anomaly-gan.validate" -}}
{{- $fullname := include "anomaly-gan.fullname" . }}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $fullname) }}
{{- fail (printf "release name %q: the chart would name its Service %q, which Kubernetes refuses (a Service name starts with a letter and holds only lowercase letters, digits and '-', no dots); use another release name or set fullnameOverride" .Release.Name $fullname) }}
{{- end }}
{{- if include "anomaly-gan.silencesOn" . }}
{{- /* The file as silencesData renders it (the literal block ends it with a newline). Kubernetes
refuses a ConfigMap whose data is over 1 MiB, at install, naming no value; the scorer reads a
silences file of up to as much (MAX_SILENCES_BYTES). */}}
{{- $bytes := add1 (len (include "anomaly-gan.yamlText" (dict "silences" (.Values.silences.entries | default list)))) }}
{{- if gt $bytes 1048576 }}
{{- fail (printf "values: silences.entries render a silences file of %d bytes (%d entries); expected at most 1048576 (1 MiB: a ConfigMap's data, and the most the scorer reads as serve.alerts.silences_path); shorten the comments or remove ended silences" $bytes (len .Values.silences.entries)) }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "values: autoscaling.enabled and keda.enabled are both true; KEDA creates its own HorizontalPodAutoscaler, so enable only one" }}
{{- end }}
{{- range $key := list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" }}
{{- if hasKey $.Values.podLabels $key }}
{{- fail (printf "values: podLabels sets %s, a label the Deployment selects its pods by (the chart sets it); the API server would refuse pods that its selector does not match. Use another label" $key) }}
{{- end }}
{{- end }}
{{- /* The pod template's checksum/config rolls the scorers when the config changes (and
restarts nothing else): a podAnnotations entry of that key replaced it, and a config change
then left the scorers on the old config until something else restarted them. */}}
{{- if hasKey (.Values.podAnnotations | default dict) "checksum/config" }}
{{- fail "values: podAnnotations sets checksum/config, the hash of the service config that the chart writes so that a config change rolls the scorers; yours would replace it. Use another key (e.g. checksum/secrets) to roll them on something else" }}
{{- end }}
{{- /* The keys of the service config the chart sets (scripts/values_schema.py CHART_OWNED,
which the schema refuses under config:), with the values they come from. An ANOMALY_GAN__*
variable in extraEnv overrides the file (anomaly_gan/config.py, _apply_env) and no other
object of the chart: serve.http.port so left the probes and the Service on containerPort and
every pod restarting, a group or topic left KEDA measuring another group's lag. */}}
{{- $owned := dict "serve.model_path" "model.mountPath" "serve.http.host" "service.listenAddress"
      "serve.http.port" "service.containerPort" "serve.alerts.silences_path" "silences.enabled / silences.entries"
      "serve.kafka.bootstrap_servers" "kafka.bootstrapServers" "serve.kafka.input_topic" "kafka.inputTopic"
      "serve.kafka.alert_topic" "kafka.alertTopic" "serve.kafka.scores_topic" "kafka.scoresTopic"
      "serve.kafka.dlq_topic" "kafka.dlqTopic" "serve.kafka.group_id" "kafka.groupId"
      "serve.kafka.security_protocol" "kafka.securityProtocol" "serve.kafka.sasl_mechanism" "kafka.sasl.mechanism"
      "serve.kafka.sasl_username" "kafka.sasl.existingSecret / usernameKey"
      "serve.kafka.sasl_password" "kafka.sasl.existingSecret / passwordKey"
      "serve.kafka.sasl_password_file" "kafka.sasl.existingSecret / passwordKey"
      "serve.kafka.ssl_cafile" "kafka.tls.caSecret / caKey" "serve.kafka.ssl_certfile" "kafka.tls.clientCertSecret"
      "serve.kafka.ssl_keyfile" "kafka.tls.clientCertSecret"
      "serve.kafka.ssl_password" "kafka.tls.keyPasswordSecret / keyPasswordKey"
      "serve.kafka.ssl_password_file" "kafka.tls.keyPasswordSecret / keyPasswordKey" }}
{{- range $env := .Values.extraEnv }}
{{- if hasPrefix "ANOMALY_GAN__" $env.name }}
{{- /* As _apply_env reads the name: lower case, "__" between keys, empty parts skipped. */}}
{{- $key := $env.name | trimPrefix "ANOMALY_GAN__" | lower | splitList "__" | compact | join "." }}
{{- range $path := keys $owned | sortAlpha }}
{{- if eq $key $path }}
{{- fail (printf "values: extraEnv sets %s, an override of %s, which the chart sets from %s for every object of the release (probes, Service, NetworkPolicy, KEDA, Secrets); set that value instead" $env.name $path (get $owned $path)) }}
{{- else if hasPrefix (printf "%s." $key) $path }}
{{- fail (printf "values: extraEnv sets %s, an override of the whole %s, which would replace %s that the chart sets from %s; override its other keys one at a time (%s__<KEY>)" $env.name $key $path (get $owned $path) $env.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- /* Keys of config: that other objects of the chart are derived from, read from the values
alone: an override in extraEnv changed the scorer and not them. ANOMALY_GAN__SERVE__GRACE_SECONDS=120
let the scorer drain for 120 s in a pod the kubelet kills 30 s after SIGTERM
(terminationGracePeriodSeconds, from config.serve.grace_seconds), and an auto_offset_reset
override left KEDA's offsetResetPolicy on the other policy. */}}
{{- $derived := dict "serve.grace_seconds" "the pods' terminationGracePeriodSeconds" }}
{{- if .Values.keda.enabled }}
{{- $_ := set $derived "serve.kafka.auto_offset_reset" "KEDA's offsetResetPolicy (keda.enabled)" }}
{{- end }}
{{- range $env := .Values.extraEnv }}
{{- if hasPrefix "ANOMALY_GAN__" $env.name }}
{{- $key := $env.name | trimPrefix "ANOMALY_GAN__" | lower | splitList "__" | compact | join "." }}
{{- if hasKey $derived $key }}
{{- fail (printf "values: extraEnv sets %s, an override of %s, from which the chart derives %s out of config.%s alone; set config.%s instead" $env.name $key (get $derived $key) $key $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* What reaches the scorer in its pod must name the port it listens on, service.containerPort
(the named port http-metrics), not the Service's service.port. Before service.containerPort
existed service.port was both, so a release that set service.port: 9200 with probes or
prometheus.io/port annotations of 9200 upgraded fine and listened on 9108: every probe failed
(pods restarting for ever) or Prometheus scraped a port nobody served (AnomalyGanScorerDown). */}}
{{- $listen := int .Values.service.containerPort }}
{{- range $probe := list "startupProbe" "livenessProbe" "readinessProbe" }}
{{- range $handler := list "httpGet" "tcpSocket" "grpc" }}
{{- $spec := dig $handler "port" nil (get $.Values $probe | default dict) }}
{{- if not (kindIs "invalid" $spec) }}
{{- if kindIs "string" $spec }}
{{- if ne $spec "http-metrics" }}
{{- fail (printf "values: %s.%s.port is %q, but the scorer's only port is http-metrics (service.containerPort, %d); use port: http-metrics" $probe $handler $spec $listen) }}
{{- end }}
{{- else if ne (int $spec) $listen }}
{{- fail (printf "values: %s.%s.port is %d, but the scorer listens on service.containerPort (%d), so the probe would fail and the pods restart for ever; use port: http-metrics (service.port, the Service's own port, no longer moves the scorer)" $probe $handler (int $spec) $listen) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- /* The prometheus.io/port convention scrapes <pod IP>:<port>, on a pod (role: pod) and on a
Service (role: endpoints, whose addresses are the pods'): the pods' port, never service.port. */}}
{{- range $key := list "podAnnotations" "service.annotations" }}
{{- $annotations := ternary $.Values.podAnnotations $.Values.service.annotations (eq $key "podAnnotations") | default dict }}
{{- $port := get $annotations "prometheus.io/port" | toString }}
{{- if and (hasKey $annotations "prometheus.io/port") (ne $port (toString $listen)) }}
{{- fail (printf "values: %s sets prometheus.io/port %q, but the scorer listens on service.containerPort (%d) and Prometheus scrapes that annotation's port on the pods' own address, not the Service's port: it would scrape a port nothing serves; set it to %q" $key $port $listen (toString $listen)) }}
{{- end }}
{{- end }}
{{- $k := .Values.kafka }}
{{- $proto := $k.securityProtocol }}
{{- if hasPrefix "SASL" $proto }}
{{- if not .Values.kafka.sasl.mechanism }}
{{- fail (printf "values: kafka.sasl.mechanism is required when kafka.securityProtocol is %s (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" $proto) }}
{{- end }}
{{- if not .Values.kafka.sasl.existingSecret }}
{{- fail (printf "values: kafka.sasl.existingSecret must name a Secret with the SASL username and password when kafka.securityProtocol is %s" $proto) }}
{{- end }}
{{- end }}
{{- if and (or $k.tls.caSecret $k.tls.clientCertSecret $k.tls.keyPasswordSecret) (not (hasSuffix "SSL" $proto)) }}
{{- fail (printf "values: kafka.tls.caSecret/clientCertSecret/keyPasswordSecret are set but kafka.securityProtocol is %s, which does not use TLS; use SSL or SASL_SSL, or leave them empty" $proto) }}
{{- end }}
{{- if and $k.tls.keyPasswordSecret (not $k.tls.clientCertSecret) }}
{{- fail "values: kafka.tls.keyPasswordSecret is set without kafka.tls.clientCertSecret; it holds the passphrase of that Secret's tls.key, so set both or neither" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.maxUnavailable) (kindIs "invalid" $pdb.minAvailable) }}
{{- fail "values: podDisruptionBudget.enabled needs maxUnavailable or minAvailable" }}
{{- end }}
{{- $hpa := .Values.autoscaling }}
{{- if and $hpa.enabled (not $hpa.targetCPUUtilizationPercentage) (empty $hpa.extraMetrics) }}
{{- fail "values: autoscaling.enabled needs at least one metric: set autoscaling.targetCPUUtilizationPercentage or autoscaling.extraMetrics (with none, Kubernetes scales on 80% CPU)" }}
{{- end }}
{{- /* Utilization is a share of the pods' CPU request (Kubernetes takes the limit for a
request left out): with neither the HPA reports FailedGetResourceMetric and never scales. */}}
{{- $res := .Values.resources | default dict }}
{{- if and $hpa.enabled $hpa.targetCPUUtilizationPercentage (not (dig "requests" "cpu" "" $res)) (not (dig "limits" "cpu" "" $res)) }}
{{- fail "values: autoscaling.targetCPUUtilizationPercentage is a percentage of resources.requests.cpu, which is not set or 0 (nor is resources.limits.cpu): the HorizontalPodAutoscaler could not compute it and would never scale; set resources.requests.cpu, or scale on autoscaling.extraMetrics alone (targetCPUUtilizationPercentage: null)" }}
{{- end }}
{{- if and $hpa.enabled (gt (int $hpa.minReplicas) (int $hpa.maxReplicas)) }}
{{- fail (printf "values: autoscaling.minReplicas (%d) is greater than autoscaling.maxReplicas (%d)" (int $hpa.minReplicas) (int $hpa.maxReplicas)) }}
{{- end }}
{{- $keda := .Values.keda }}
{{- if and $keda.enabled (gt (int $keda.minReplicaCount) (int $keda.maxReplicaCount)) }}
{{- fail (printf "values: keda.minReplicaCount (%d) is greater than keda.maxReplicaCount (%d)" (int $keda.minReplicaCount) (int $keda.maxReplicaCount)) }}
{{- end }}
{{- $sm := .Values.serviceMonitor }}
{{- if and $sm.enabled (gt (include "anomaly-gan.durationMs" $sm.scrapeTimeout | int64) (include "anomaly-gan.durationMs" $sm.interval | int64)) }}
{{- fail (printf "values: serviceMonitor.scrapeTimeout (%s) is longer than serviceMonitor.interval (%s); Prometheus rejects a scrape timeout longer than the interval" $sm.scrapeTimeout $sm.interval) }}
{{- end }}
{{- if and $sm.enabled .Values.prometheusRule.enabled (gt (include "anomaly-gan.durationMs" $sm.interval | int64) 120000) }}
{{- fail (printf "values: serviceMonitor.interval is %q, but the shipped rules (prometheusRule.enabled) need a scrape at least every 2m: Prometheus drops a series not scraped for 5 minutes, so the gauges, AnomalyGanScorerDown and the dashboard would blink out at a missed scrape; scrape every 2m or less, or disable prometheusRule and ship your own rules" $sm.interval) }}
{{- end }}
{{- if and $sm.enabled .Values.prometheusRule.enabled (ne $sm.jobName "anomaly-gan") }}
{{- fail (printf "values: serviceMonitor.jobName is %q, but the shipped rules (prometheusRule.enabled) select job=\"anomaly-gan\": AnomalyGanScorerDown and the recording rules would see no scorer; keep anomaly-gan or disable prometheusRule and ship your own rules" $sm.jobName) }}
{{- end }}
{{- $store := .Values.model.persistence }}
{{- if and .Values.retrain.enabled (not $store.existingClaim) (not (or (has "ReadWriteMany" $store.accessModes) (has "ReadWriteOnce" $store.accessModes))) }}
{{- fail (printf "values: retrain.enabled writes the model store while the scorers read it, but model.persistence.accessModes %v lets no pod write it next to them; use ReadWriteMany (or ReadWriteOnce with the Job on the scorers' node, docs/deployment.md \"Retraining CronJob\")" $store.accessModes) }}
{{- end }}
{{- /* The volumes the values place: the API server refuses two mounts at one path (only
once the config check has run), and a mount inside a read-only one (the runtime cannot make
its mount point there), or one over the image's /etc, /var or /, keeps the pod from starting.
Inside the writable /tmp is fine. */}}
{{- $fixed := dict "/tmp" "the scratch space" (include "anomaly-gan.configDir" .) "the config"
      (include "anomaly-gan.silencesDir" .) "the silences" (include "anomaly-gan.saslDir" .) "a Kafka Secret"
      (include "anomaly-gan.caDir" .) "a Kafka Secret" (include "anomaly-gan.clientCertDir" .) "a Kafka Secret"
      (include "anomaly-gan.keyPasswordDir" .) "a Kafka Secret" }}
{{- $placed := dict "model.mountPath" .Values.model.mountPath }}
{{- if and .Values.retrain.enabled .Values.retrain.dataExistingClaim }}
{{- $_ := set $placed "retrain.dataMountPath" .Values.retrain.dataMountPath }}
{{- end }}
{{- range $key := keys $placed | sortAlpha }}
{{- $path := get $placed $key | clean }}
{{- range $other := keys $fixed | sortAlpha }}
{{- $inside := and (hasPrefix (printf "%s/" $other) $path) (ne $other "/tmp") }}
{{- if or (eq $path $other) $inside (hasPrefix (printf "%s/" $path) $other) (eq $path "/") }}
{{- fail (printf "values: %s %s overlaps %s, where the chart mounts %s; use a path of its own such as /models or /data" $key (get $placed $key) $other (get $fixed $other)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (hasKey $placed "retrain.dataMountPath") (eq (clean .Values.model.mountPath) (clean .Values.retrain.dataMountPath)) }}
{{- fail (printf "values: retrain.dataMountPath and model.mountPath are both %s; the retraining Job mounts the data and the model store there, which Kubernetes refuses" .Values.model.mountPath) }}
{{- end }}
{{- /* The retraining Job's files can only be in a volume it mounts: the image holds none, and
its other mounts are the chart's own. A path elsewhere installed fine and failed every
scheduled run (exit 2, "file not found"). */}}
{{- if .Values.retrain.enabled }}
{{- $volumes := list (clean .Values.model.mountPath) }}
{{- if .Values.retrain.dataExistingClaim }}
{{- $volumes = append $volumes (clean .Values.retrain.dataMountPath) }}
{{- end }}
{{- range $key := list "dataPath" "labelsPath" }}
{{- $file := get $.Values.retrain $key }}
{{- if $file }}
{{- $inside := false }}
{{- range $volumes }}
{{- if hasPrefix (printf "%s/" (trimSuffix "/" .)) (clean $file) }}{{ $inside = true }}{{ end }}
{{- end }}
{{- if not $inside }}
{{- if $.Values.retrain.dataExistingClaim }}
{{- fail (printf "values: retrain.%s %s is in no volume the retraining Job mounts; expected a file under retrain.dataMountPath (%s, the claim %s) or model.mountPath (%s)" $key $file $.Values.retrain.dataMountPath $.Values.retrain.dataExistingClaim $.Values.model.mountPath) }}
{{- else }}
{{- fail (printf "values: retrain.%s %s is in no volume the retraining Job mounts; set retrain.dataExistingClaim to the claim that holds it (mounted at retrain.dataMountPath, %s) or use a file under model.mountPath (%s)" $key $file $.Values.retrain.dataMountPath $.Values.model.mountPath) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- /* `retrain --last` refuses a range that starts before 1970 (anomaly_gan/retrain/commands.py,
last_range): the schema took 99999999999w, and every scheduled run failed with exit 2. Checked
against the time of the render: a run starts later, so a range accepted here stays accepted. A
whole part of over 10 digits is over 300 years in any unit (and too long for float64 to read
here, which makes 0 of what it cannot parse). */}}
{{- with .Values.retrain.lookback }}
{{- $unit := trunc -1 . }}
{{- $number := trimSuffix $unit . }}
{{- $whole := regexReplaceAll "^0+" (regexFind "^[0-9]*" $number) "" }}
{{- $seconds := mulf (float64 $number) (get (dict "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800) $unit) }}
{{- $since1970 := now | unixEpoch | float64 }}
{{- if or (gt (len $whole) 10) (gt $seconds $since1970) }}
{{- fail (printf "values: retrain.lookback %s reaches back before 1970 (now is %.0f seconds after it): `anomaly-gan retrain --last` refuses it, and every scheduled run would fail (exit 2); expected a shorter duration such as 7d or 26w" . $since1970) }}
{{- end }}
{{- end }}
{{- /* The scorer's shadow model, like the retraining Job's files: the store is the only
volume of the scorer that holds bundles. One elsewhere installed fine, and every scorer
logged one error at start and ran without its shadow for good. */}}
{{- $shadow := dig "serve" "shadow_model_path" "" (.Values.config | default dict) | default "" }}
{{- if $shadow }}
{{- $mount := clean .Values.model.mountPath }}
{{- $file := clean $shadow }}
{{- if not (or (eq $file $mount) (hasPrefix (printf "%s/" (trimSuffix "/" $mount)) $file)) }}
{{- fail (printf "values: config.serve.shadow_model_path %s is in no volume the scorer mounts; expected a version directory under model.mountPath (%s), the model store" $shadow .Values.model.mountPath) }}
{{- end }}
{{- end }}
{{- $np := .Values.networkPolicy }}
{{- if and $np.enabled $np.kafkaEgress.ports }}
{{- $allowed := list }}
{{- range $np.kafkaEgress.ports }}{{ $allowed = append $allowed (int .) }}{{ end }}
{{- range splitList "," $k.bootstrapServers }}
{{- $port := regexFind ":[0-9]+$" (trim .) | trimPrefix ":" | default "9092" | int }}
{{- if not (has $port $allowed) }}
{{- fail (printf "values: networkPolicy.kafkaEgress.ports %v does not include port %d of kafka.bootstrapServers (%s): the NetworkPolicy would block the brokers" $allowed $port .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* A Prometheus duration ("1m30s", "500ms") in milliseconds; the schema checks the format. */}}
{{- define "anomaly-gan.durationMs" -}}
{{- $units := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h)" . -1 }}
{{- $n := regexFind "^[0-9]+" . }}
{{- $total = add $total (mul (int64 $n) (get $units (trimPrefix $n .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/* serve.grace_seconds as given in config (the service's default is 20). */}}
{{- define "anomaly-gan.graceSeconds" -}}
{{- $serve := default dict .Values.config.serve }}
{{- if hasKey $serve "grace_seconds" }}{{ $serve.grace_seconds }}{{ else }}20{{ end }}
{{- end }}

{{- define "anomaly-gan.terminationGracePeriodSeconds" -}}
{{- $grace := include "anomaly-gan.graceSeconds" . | float64 }}
{{- add (ceil $grace | int) (int .Values.terminationGraceExtraSeconds) }}
{{- end }}

{{/*
A value as the text of a YAML file: indented JSON (JSON is YAML), which carries every string
exactly. toYaml cannot: it reads its own JSON back as YAML 1.1, for which a raw NEL (U+0085)
is a line break (folded into a space), and it writes U+2028/U+2029 raw inside quotes, where
PyYAML and a ConfigMap's block scalar read a line break too. Go's JSON escapes U+2028/U+2029
and the C0 controls; the other characters YAML may not hold raw (DEL, the C1 controls with
NEL, U+FEFF, U+FFFE, U+FFFF) get \uXXXX here, so each line is plain printable text. Go writes
1e-07 where YAML 1.1 (PyYAML) needs 1.0e-07 to read a number, so mantissas without a dot get
one: a number ends its line (a string ends in a quote), after its key.
*/}}
{{- define "anomaly-gan.yamlText" -}}
{{- $json := toPrettyJson . }}
{{- range $code := concat (untilStep 127 160 1) (list 65279 65534 65535) }}
{{- $json = replace (printf "%c" $code) (printf "\\u%04x" $code) $json }}
{{- end }}
{{- regexReplaceAll "(?m)^(\\s*(?:\"(?:[^\"\\\\]|\\\\.)*\": )?-?[0-9]+)(e[-+][0-9]+)(,?)$" $json "${1}.0${2}${3}" }}
{{- end }}

{{/* The service YAML: values.config merged with the settings the chart owns. */}}
{{- define "anomaly-gan.serviceConfig" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $k := .Values.kafka }}
{{- $kafka := dict
      "bootstrap_servers" $k.bootstrapServers
      "input_topic" $k.inputTopic
      "alert_topic" $k.alertTopic
      "dlq_topic" $k.dlqTopic
      "group_id" $k.groupId
      "security_protocol" $k.securityProtocol }}
{{- if $k.scoresTopic }}
{{- $_ := set $kafka "scores_topic" $k.scoresTopic }}
{{- end }}
{{- if hasPrefix "SASL" $k.securityProtocol }}
{{- $_ := set $kafka "sasl_mechanism" $k.sasl.mechanism }}
{{- $_ := set $kafka "sasl_password_file" (printf "%s/%s" (include "anomaly-gan.saslDir" .) $k.sasl.passwordKey) }}
{{- end }}
{{- if $k.tls.caSecret }}
{{- $_ := set $kafka "ssl_cafile" (printf "%s/%s" (include "anomaly-gan.caDir" .) $k.tls.caKey) }}
{{- end }}
{{- if $k.tls.clientCertSecret }}
{{- $_ := set $kafka "ssl_certfile" (printf "%s/tls.crt" (include "anomaly-gan.clientCertDir" .)) }}
{{- $_ := set $kafka "ssl_keyfile" (printf "%s/tls.key" (include "anomaly-gan.clientCertDir" .)) }}
{{- end }}
{{- if $k.tls.keyPasswordSecret }}
{{- $_ := set $kafka "ssl_password_file" (printf "%s/%s" (include "anomaly-gan.keyPasswordDir" .) $k.tls.keyPasswordKey) }}
{{- end }}
{{- $owned := dict "serve" (dict
      "model_path" .Values.model.mountPath
      "http" (dict "host" (.Values.service.listenAddress | default "0.0.0.0") "port" (int .Values.service.containerPort))
      "kafka" $kafka) }}
{{- if include "anomaly-gan.silencesOn" . }}
{{- $_ := set $owned.serve "alerts" (dict "silences_path" (include "anomaly-gan.silencesFile" .)) }}
{{- end }}
{{- include "anomaly-gan.yamlText" (mergeOverwrite $cfg $owned) }}
{{- end }}

{{/*
The data of a ConfigMap holding the service YAML: the scorer's ConfigMap and the config
check's (helm hook) render it here, so the check reads the very bytes the scorer will.
*/}}
{{- define "anomaly-gan.configMapData" -}}
config.yaml: |
  {{- include "anomaly-gan.serviceConfig" . | nindent 2 }}
{{- end }}

{{/*
The data of a ConfigMap holding the silences file (serve.alerts.silences_path): the scorer's
<fullname>-silences and the config check's copy, so the check validates the entries the
scorer will read.
*/}}
{{- define "anomaly-gan.silencesData" -}}
silences.yaml: |
  {{- include "anomaly-gan.yamlText" (dict "silences" (.Values.silences.entries | default list)) | nindent 2 }}
{{- end }}

{{/*
The annotations of one object of the config check, from (dict "weight" <hook weight>): it runs
before an install or an upgrade touches anything of the release, and is deleted once it passed
(a failed Job stays for `kubectl logs` until the next install or upgrade replaces it).
*/}}
{{- define "anomaly-gan.validateConfigHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}

{{/* NetworkPolicy egress of the pods that talk to Kafka: the scorer and the retraining Job. */}}
{{- define "anomaly-gan.kafkaEgress" -}}
# DNS.
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
# Kafka brokers.
- ports:
    {{- range .Values.networkPolicy.kafkaEgress.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with .Values.networkPolicy.kafkaEgress.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- with .Values.networkPolicy.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes and mounts shared by the scorer and the retraining job. */}}
{{- define "anomaly-gan.kafkaSecretVolumes" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol }}
- name: kafka-sasl
  secret:
    secretName: {{ .Values.kafka.sasl.existingSecret | quote }}
    items:
      - key: {{ .Values.kafka.sasl.passwordKey | quote }}
        path: {{ .Values.kafka.sasl.passwordKey | quote }}
    defaultMode: 0440
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret | quote }}
    items:
      - key: {{ .Values.kafka.tls.caKey | quote }}
        path: {{ .Values.kafka.tls.caKey | quote }}
    defaultMode: 0444
{{- end }}
{{- if .Values.kafka.tls.clientCertSecret }}
- name: kafka-client-tls
  secret:
    secretName: {{ .Values.kafka.tls.clientCertSecret | quote }}
    defaultMode: 0440
{{- end }}
{{- if .Values.kafka.tls.keyPasswordSecret }}
- name: kafka-key-password
  secret:
    secretName: {{ .Values.kafka.tls.keyPasswordSecret | quote }}
    items:
      - key: {{ .Values.kafka.tls.keyPasswordKey | quote }}
        path: {{ .Values.kafka.tls.keyPasswordKey | quote }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "anomaly-gan.kafkaSecretMounts" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol }}
- name: kafka-sasl
  mountPath: {{ include "anomaly-gan.saslDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: {{ include "anomaly-gan.caDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.clientCertSecret }}
- name: kafka-client-tls
  mountPath: {{ include "anomaly-gan.clientCertDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.keyPasswordSecret }}
- name: kafka-key-password
  mountPath: {{ include "anomaly-gan.keyPasswordDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
The environment of a container, from (dict "ctx" $ "scorer" <bool> "retrain" <bool>): the chart's variables
(the caches of TensorFlow, Keras and matplotlib on the writable /tmp), then extraEnv. A name in extraEnv replaces the chart's variable of that name instead of
repeating it: server-side apply (Helm 4's default) refuses a list with a name twice.
*/}}
{{- define "anomaly-gan.env" -}}
{{- $v := .ctx.Values }}
{{- $own := list
      (dict "name" "HOME" "value" "/tmp")
      (dict "name" "KERAS_HOME" "value" "/tmp/keras")
      (dict "name" "MPLCONFIGDIR" "value" "/tmp/matplotlib")
      (dict "name" "TF_CPP_MIN_LOG_LEVEL" "value" "2") }}
{{- if hasPrefix "SASL" $v.kafka.securityProtocol }}
{{- $own = append $own (dict "name" "ANOMALY_GAN__SERVE__KAFKA__SASL_USERNAME" "valueFrom"
      (dict "secretKeyRef" (dict "name" $v.kafka.sasl.existingSecret "key" $v.kafka.sasl.usernameKey))) }}
{{- end }}
{{- if or .scorer .retrain }}
{{- /* The model's thread pools (the scorer's and the retraining Job's): with no CPU limit
       TensorFlow would size them from the node's cores; the request, in whole CPUs
       (rounded up), sizes them instead. */}}
{{- $own = append $own (dict "name" "ANOMALY_GAN_CPUS" "valueFrom"
      (dict "resourceFieldRef" (dict "resource" "requests.cpu" "divisor" "1"))) }}
{{- end }}
{{- $extra := list }}
{{- range $v.extraEnv }}
{{- if has .name $extra }}
{{- fail (printf "values: extraEnv names %s twice; Kubernetes (server-side apply) refuses an env list with a repeated name" .name) }}
{{- end }}
{{- $extra = append $extra .name }}
{{- end }}
{{- $env := list }}
{{- range $own }}
{{- if not (has .name $extra) }}
{{- $env = append $env . }}
{{- end }}
{{- end }}
{{- toYaml (concat $env $v.extraEnv) }}
{{- end }}

{{/*
podAnnotations for the pods of the Jobs (retraining, config check), as YAML: all but the
prometheus.io/ scrape annotations, which are the scorer's. A Job's pod serves no metrics, so
Prometheus' pod discovery scraped it on the scorer's port for as long as it ran: a target
down (a TargetDown alert of kube-prometheus) at every retrain.
*/}}
{{- define "anomaly-gan.jobPodAnnotations" -}}
{{- $out := dict }}
{{- range $k, $v := .Values.podAnnotations }}
{{- if not (hasPrefix "prometheus.io/" $k) }}
{{- $_ := set $out $k $v }}
{{- end }}
{{- end }}
{{- if $out }}{{ toYaml $out }}{{ end }}
{{- end }}
