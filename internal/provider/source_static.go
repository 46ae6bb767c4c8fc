package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/static"
)

// staticKind is the source.static block.
var staticKind = sourceKind{
	name:  static.Kind,
	block: staticBlock,
	in:    func(m *sourceModel) bool { return m.Static != nil },
	source: func(m, config *sourceModel) (plugin.Source, bool) {
		var cfg *staticModel
		if config != nil {
			cfg = config.Static
		}
		return m.Static.source(cfg)
	},
	model: func(src plugin.Source, prior *sourceModel) (*sourceModel, bool) {
		c, ok := src.(*static.Config)
		if !ok {
			return nil, false
		}
		var p *staticModel
		if prior != nil {
			p = prior.Static
		}
		return &sourceModel{Static: staticModelOf(c, p)}, true
	},
	git: func(m *sourceModel) *gitModel {
		if m == nil || m.Static == nil {
			return nil
		}
		return &m.Static.gitModel
	},
}

// staticModel is the source.static block.
type staticModel struct {
	gitModel
	Path             types.String `tfsdk:"path"`
	RootDirectory    types.String `tfsdk:"root_directory"`
	BuildCommand     types.String `tfsdk:"build_command"`
	BuildImage       types.String `tfsdk:"build_image"`
	PublishDirectory types.String `tfsdk:"publish_directory"`
	SPA              types.Bool   `tfsdk:"spa"`
	ServerImage      types.String `tfsdk:"server_image"`
	Healthcheck      types.String `tfsdk:"healthcheck"`
	Deno             *denoModel   `tfsdk:"deno"`
}

// denoModel is the source.static.deno block.
type denoModel struct {
	Entrypoint types.String `tfsdk:"entrypoint"`
	Image      types.String `tfsdk:"image"`
	Storage    types.String `tfsdk:"storage"`
}

func staticBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "A Git repository of a static site, served by an image the provider generates: the files of " +
			"`publish_directory` (optionally built first by `build_command` in `build_image`) behind a Caddy server whose " +
			"config the provider writes. A path that is a directory serves its `index.html`; with `spa`, unknown paths " +
			"serve `/index.html` with status 200; otherwise a `404.html` at the root of the published files is served with " +
			"status 404. HTML is sent with `Cache-Control: no-cache`, files whose name carries a hex content hash of 8 " +
			"or more digits (`app.3f9a1c2b.js`, `index-3f9a1c2b.css`) as `public, max-age=31536000, immutable`. " +
			"With a `deno` block, a Deno site runs instead of the file server. The server listens on port 8080. " +
			"As for `dockerfile`, the plan resolves the branch head into `commit_sha` and the apply serves exactly that " +
			"commit. Deploys recreate by default; `blue-green` works as for images, except for a Deno site with `storage`.",
		Validators: []validator.Object{gitOrigin{withPath: true}},
		Attributes: gitAttributes(map[string]schema.Attribute{
			"path": pathAttribute(),
			"root_directory": schema.StringAttribute{
				MarkdownDescription: "The site's directory, relative to the repository root (the build runs there): no " +
					"leading `/`, no `..`, and no symlink that leads out of the clone. Defaults to the root (`.`).",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(static.DefaultRootDirectory),
				Validators: []validator.String{engineRule("a relative path", static.ValidateRootDirectory)},
			},
			"build_command": schema.StringAttribute{
				MarkdownDescription: "Command that builds the site, run with `/bin/sh -c` in `build_image` in " +
					"`root_directory` at the planned commit, e.g. `npm ci && npm run build`. A build that fails fails the " +
					"apply with its last output lines, and the running version keeps serving.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"build_image": schema.StringAttribute{
				MarkdownDescription: "Image the build runs in, e.g. `node:22-alpine`; required with `build_command`. It " +
					"needs `/bin/sh`.",
				Optional:   true,
				Validators: []validator.String{engineRule("an image reference", imageRule("build_image"))},
			},
			"publish_directory": schema.StringAttribute{
				MarkdownDescription: "What is served, relative to `root_directory` (after the build, when there is one), " +
					"e.g. `dist`. Defaults to `.`. Missing after the build, it fails the apply naming it.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(static.DefaultPublishDirectory),
				Validators: []validator.String{engineRule("a relative path", static.ValidatePublishDirectory)},
			},
			"spa": schema.BoolAttribute{
				MarkdownDescription: "Single-page app: a path that is not a file serves `/index.html` with status 200. " +
					"Defaults to `false`.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"server_image": schema.StringAttribute{
				MarkdownDescription: "The Caddy image the files are served from; the provider writes its config " +
					"(`/etc/caddy/Caddyfile`) and runs `caddy run`. Defaults to `" + static.DefaultServerImage + "`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(static.DefaultServerImage),
				Validators: []validator.String{engineRule("an image reference", imageRule("server_image"))},
			},
			"healthcheck": schema.StringAttribute{
				MarkdownDescription: "HTTP path probed on a new container until it answers 2xx or 3xx (within " +
					"`health_timeout`) before it takes traffic. Defaults to `/`.",
				Optional: true,
				Computed: true,
				Default:  stringdefault.StaticString(static.DefaultHealthcheck),
				Validators: []validator.String{
					stringvalidator.LengthAtLeast(1),
					engineRule("an absolute HTTP path", plugin.ValidateHealthcheck),
				},
			},
		}),
		Blocks: map[string]schema.Block{
			"deno": schema.SingleNestedBlock{
				MarkdownDescription: "A Deno site instead of a file server: `deno run` of `entrypoint` (with network, env " +
					"and read access; its dependencies cached into the image at build time), which must listen on the port " +
					"in `PORT` (8080). With `storage`, a named volume is mounted read-write at `/data` (and the script may " +
					"write there); such a site never runs twice at once, so it recreates, and `deploy_strategy = " +
					"\"blue-green\"` is refused at plan time.",
				Validators: []validator.Object{requiredInBlock("entrypoint")},
				Attributes: map[string]schema.Attribute{
					"entrypoint": schema.StringAttribute{
						MarkdownDescription: "Required. The script to run, relative to `root_directory`, e.g. `main.ts`.",
						Optional:            true,
						Validators:          []validator.String{engineRule("a relative path", static.ValidateEntrypoint)},
					},
					"image": schema.StringAttribute{
						MarkdownDescription: "The Deno image (`deno` on its `PATH`). Defaults to `" + static.DefaultDenoImage + "`.",
						Optional:            true,
						Computed:            true,
						Default:             stringdefault.StaticString(static.DefaultDenoImage),
						Validators:          []validator.String{engineRule("an image reference", imageRule("deno.image"))},
					},
					"storage": schema.StringAttribute{
						MarkdownDescription: "Named volume mounted read-write at `/data`. It is data: destroy leaves it in place.",
						Optional:            true,
						Validators:          []validator.String{engineRule("a volume name", static.ValidateStorage)},
					},
				},
			},
		},
	}
}

// imageRule is the rule of an image attribute, named attr in its errors.
func imageRule(attr string) func(string) error {
	return func(ref string) error { return static.ValidateImage(attr, ref) }
}

// source maps the block onto the engine's source; config is the
// configuration's block, for the write-only token.
func (m *staticModel) source(config *staticModel) (plugin.Source, bool) {
	var cfgGit *gitModel
	if config != nil {
		cfgGit = &config.gitModel
	}
	repo, known := m.repo(cfgGit)
	repo.Path = m.Path.ValueString()
	known = known && !m.Path.IsUnknown()
	values := []attr.Value{m.RootDirectory, m.BuildCommand, m.BuildImage, m.PublishDirectory, m.SPA, m.ServerImage, m.Healthcheck}
	c := &static.Config{
		Repo:             repo,
		RootDirectory:    m.RootDirectory.ValueString(),
		BuildCommand:     m.BuildCommand.ValueString(),
		BuildImage:       m.BuildImage.ValueString(),
		PublishDirectory: m.PublishDirectory.ValueString(),
		SPA:              m.SPA.ValueBool(),
		ServerImage:      m.ServerImage.ValueString(),
		Healthcheck:      m.Healthcheck.ValueString(),
	}
	if d := m.Deno; d != nil {
		values = append(values, d.Entrypoint, d.Image, d.Storage)
		c.Deno = &static.Deno{Entrypoint: d.Entrypoint.ValueString(), Image: d.Image.ValueString(), Storage: d.Storage.ValueString()}
	}
	for _, v := range values {
		if v.IsUnknown() {
			known = false
		}
	}
	return c, known
}

// staticModelOf rebuilds the block from a config read back from labels; the
// secrets and the write-only version are kept from prior.
func staticModelOf(c *static.Config, prior *staticModel) *staticModel {
	var priorGit *gitModel
	if prior != nil {
		priorGit = &prior.gitModel
	}
	m := &staticModel{
		gitModel:         gitModelOf(c.Repo, priorGit),
		Path:             optionalString(c.Repo.Path),
		RootDirectory:    types.StringValue(c.RootDirectory),
		BuildCommand:     optionalString(c.BuildCommand),
		BuildImage:       optionalString(c.BuildImage),
		PublishDirectory: types.StringValue(c.PublishDirectory),
		SPA:              types.BoolValue(c.SPA),
		ServerImage:      types.StringValue(c.ServerImage),
		Healthcheck:      types.StringValue(c.Healthcheck),
	}
	if d := c.Deno; d != nil {
		m.Deno = &denoModel{Entrypoint: types.StringValue(d.Entrypoint), Image: types.StringValue(d.Image), Storage: optionalString(d.Storage)}
	}
	return m
}
