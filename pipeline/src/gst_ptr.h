// RAII owners for GLib/GStreamer references (private to sabla_pipeline).
#pragma once
#include <gst/gst.h>
#include <gst/video/video.h>

#include <memory>

namespace sabla::pipeline::detail {

struct ObjectUnref {
  void operator()(gpointer p) const {
    if (p) gst_object_unref(p);
  }
};
struct MiniObjectUnref {
  void operator()(gpointer p) const {
    if (p) gst_mini_object_unref(GST_MINI_OBJECT_CAST(p));
  }
};
struct GFree {
  void operator()(gpointer p) const { g_free(p); }
};
struct ErrorFree {
  void operator()(GError* e) const {
    if (e) g_error_free(e);
  }
};
// Destroys (detaches) and unrefs a GSource.
struct SourceDestroy {
  void operator()(GSource* s) const {
    if (s) {
      g_source_destroy(s);
      g_source_unref(s);
    }
  }
};

template <class T>
using Ref = std::unique_ptr<T, ObjectUnref>;  // GstObject subclasses
template <class T>
using MiniRef = std::unique_ptr<T, MiniObjectUnref>;  // GstBuffer, GstCaps, GstMessage, ...
using GStr = std::unique_ptr<gchar, GFree>;
using ErrorPtr = std::unique_ptr<GError, ErrorFree>;
using SourcePtr = std::unique_ptr<GSource, SourceDestroy>;

// A pipeline that is set to NULL before its last reference goes.
struct PipelineStop {
  void operator()(GstElement* e) const {
    if (e) {
      gst_element_set_state(e, GST_STATE_NULL);
      gst_object_unref(e);
    }
  }
};
using PipelinePtr = std::unique_ptr<GstElement, PipelineStop>;

}  // namespace sabla::pipeline::detail
