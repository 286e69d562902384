package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// envReportable lists the variables whose value /env may return; for any
// other name it only says whether the variable is set.
var envReportable = map[string]bool{
	"GF_VERSION":             true,
	"GF_EDITION":             true,
	"PLUGIN_UNIX_SOCKET_DIR": true,
}

// newResourceMux returns the plugin's HTTP resource routes.
func newResourceMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", handleEcho)
	mux.HandleFunc("/stream", handleStream)
	mux.HandleFunc("/status/{code}", handleStatus)
	mux.HandleFunc("/items/{id}", handleItem)
	mux.HandleFunc("GET /env", handleEnv)
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"pid": os.Getpid()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type echoUser struct {
	Login string `json:"login"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role,omitempty"`
}

type echoDatasource struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
	URL  string `json:"url"`
	// SecureJSONFields lists the names of the decrypted secure settings;
	// their values are never returned.
	SecureJSONFields []string `json:"secureJsonFields,omitempty"`
}

type echoResponse struct {
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Query    map[string][]string `json:"query"`
	Headers  map[string][]string `json:"headers"`
	Body     string              `json:"body"`
	OrgID    int64               `json:"orgId"`
	PluginID string              `json:"pluginId"`
	// PluginVersion, AppURL and ConcurrentQueryCount are what the SDK reads from the
	// PluginContext (the latter two from the Grafana config).
	PluginVersion        string          `json:"pluginVersion"`
	AppURL               string          `json:"appUrl,omitempty"`
	ConcurrentQueryCount int             `json:"concurrentQueryCount,omitempty"`
	User                 *echoUser       `json:"user,omitempty"`
	Datasource           *echoDatasource `json:"datasource,omitempty"`
}

// handleEcho echoes the request and the plugin context (never secure data).
func handleEcho(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil { // the SDK passes no body for body-less calls
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	}
	pc := backend.PluginConfigFromContext(r.Context())
	resp := echoResponse{
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.Query(),
		Headers:  r.Header,
		Body:     string(body),
		OrgID:    pc.OrgID,
		PluginID: pc.PluginID,

		PluginVersion: pc.PluginVersion,
	}
	if cfg := backend.GrafanaConfigFromContext(r.Context()); cfg != nil {
		resp.AppURL, _ = cfg.AppURL()
		resp.ConcurrentQueryCount, _ = cfg.ConcurrentQueryCount()
	}
	if u := pc.User; u != nil {
		resp.User = &echoUser{Login: u.Login, Name: u.Name, Email: u.Email, Role: u.Role}
	}
	if ds := pc.DataSourceInstanceSettings; ds != nil {
		resp.Datasource = &echoDatasource{UID: ds.UID, Name: ds.Name, URL: ds.URL}
		for k := range ds.DecryptedSecureJSONData {
			resp.Datasource.SecureJSONFields = append(resp.Datasource.SecureJSONFields, k)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleStream writes ?chunks=N lines (default 5, at most 1000), flushing
// each one and sleeping ?delay= (default 50ms, at most 5s) between them.
// Every flush becomes one CallResourceResponse message on the gRPC stream.
func handleStream(w http.ResponseWriter, r *http.Request) {
	chunks := 5
	if s := r.URL.Query().Get("chunks"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "chunks must be an integer in [0,1000]"})
			return
		}
		chunks = n
	}
	delay := 50 * time.Millisecond
	if s := r.URL.Query().Get("delay"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > 5*time.Second {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "delay must be a duration in [0,5s]"})
			return
		}
		delay = d
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush() // headers first
	}
	for i := range chunks {
		if i > 0 && delay > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(delay):
			}
		}
		_, _ = fmt.Fprintf(w, "chunk %d\n", i)
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// handleStatus answers with the status code from the path.
func handleStatus(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 599 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status code must be in [200,599]"})
		return
	}
	writeJSON(w, code, map[string]int{"status": code})
}

// handleItem echoes the route parameter and the path it was matched on.
func handleItem(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{
		"id":     r.PathValue("id"),
		"path":   r.URL.Path,
		"method": r.Method,
	})
}

// handleEnv reports whether ?name= is set in the plugin's environment. The
// value is only returned for a few harmless variables (envReportable).
func handleEnv(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name is required"})
		return
	}
	v, set := os.LookupEnv(name)
	resp := map[string]any{"name": name, "set": set}
	if set && envReportable[name] {
		resp["value"] = v
	}
	writeJSON(w, http.StatusOK, resp)
}
